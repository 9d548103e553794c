/**
 * @module
 * `npm run loadtest:writer [-- --quick] [--split-writer [--writer-nice N]]`: the model writer under load, against `npm start`
 * (wrangler dev, local R2 and Durable Object, the committed default model). With `--split-writer` the writer runs
 * in a second `wrangler dev` (its own workerd process, found through a private dev registry, same local bucket),
 * as a deployed Durable Object runs apart from the isolates that answer `/predict`: locally one workerd process
 * runs the worker, the writer and the R2 emulation on one thread, so any CPU the writer spends delays every
 * request. `--writer-nice N` runs that second process at nice N: on a machine of 2 cores it otherwise takes one of
 * the two from the isolate answering `/predict`, which a deployed Durable Object (its own isolate, usually on
 * another machine) does not; the figure is printed with the setting. Each phase starts from the published model (a rollback through the writer), so the lineage guard's
 * bounds against the root are the same for all. Measures, in one run:
 * - 30 fine-tunes one after the other (uncontended), then 30 at once from 30 clients: statuses, the version chain,
 *   and the workerd process CPU of each burst (from /proc: the fine-tunes' whole cost, retrains included);
 * - /predict latency at rest and during a burst of 30 concurrent fine-tunes;
 * - 1,000 corrections from 50 clients (the benchmark's "new hand": MNIST test digits redrawn thick, slanted and
 *   bent, none of them in training): statuses, counted back with GET /feedback, then one apply;
 * - bad feedback (malformed, oversized, unlabelled, out of range): 4xx each, nothing stored.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { freePort, startLocalServer } from './lib/local-server.ts';
import { BENCH_HAND, drawInHand, NEW_HAND_SEED } from './lib/new-hand.ts';
import { seedLocal } from './seed-local.ts';

const quick = process.argv.includes('--quick');
const split = process.argv.includes('--split-writer');
const niceAt = process.argv.indexOf('--writer-nice');
const writerNice = niceAt > 0 ? Number(process.argv[niceAt + 1]) : 0;
if (!Number.isInteger(writerNice) || writerNice < 0 || writerNice > 19 || (writerNice && !split))
  throw new Error('--writer-nice takes an integer in [0, 19] and needs --split-writer');

/**
 * One HTTP request on a fresh connection. (fetch's pooled keep-alive sockets sometimes hung after a long burst:
 * a socket idle past wrangler dev's keep-alive timeout, reused; a fresh connection per request avoids it.)
 */
function fetch(
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {},
): Promise<{ status: number; text(): Promise<string>; json(): Promise<unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      target,
      { method: init.method ?? 'GET', headers: init.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode!,
            text: async () => text,
            json: async () => JSON.parse(text) as unknown,
          });
        });
        res.on('error', (err) => reject(new Error(`${init.method ?? 'GET'} ${target}: ${err.message}`)));
      },
    );
    // Long: the last of 30 queued fine-tunes waits for the 29 before it, and under `nice` on a busy machine the
    // server gets a small share of a core (one loaded run took 10× its CPU time in wall time).
    req.setTimeout(600_000, () =>
      req.destroy(new Error(`${init.method ?? 'GET'} ${target}: no answer in 600 s`)),
    );
    req.on('error', (err) => reject(new Error(`${init.method ?? 'GET'} ${target}: ${err.message}`)));
    req.end(init.body);
  });
}
const TOKEN = 'loadtest-token';
const FINE_TUNES = 30;
const CLIENTS = 50;
const FEEDBACK = quick ? 200 : 1000;
const EXAMPLES_PER_FINE_TUNE = 8;
/** wrangler.toml's MODEL_REVALIDATE_SECONDS (5 when unset): how stale `GET /model`'s pointer may be. */
const REVALIDATE_MS =
  Number(/^MODEL_REVALIDATE_SECONDS\s*=\s*"(\d+)"/m.exec(readFileSync('wrangler.toml', 'utf8'))?.[1] ?? 5) *
  1000;

const TICK = 100; // USER_HZ
/** utime + stime of every workerd process in the servers' process groups, in ms. */
function serverCpuMs(pgids: number[]): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After comm: state(0) ppid(1) pgrp(2) … utime(11) stime(12)
    if (!pgids.includes(Number(fields[2])) || !comm.includes('workerd')) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / TICK;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const ms = (v: number) => `${v.toFixed(1)} ms`;

const dataset = loadDataset(MNIST_DIR);
const test = dataset.test;
const total = FINE_TUNES * EXAMPLES_PER_FINE_TUNE * 2 + FEEDBACK + 400;
const raw = test.images.slice(0, total * 784);
const drawn = drawInHand(raw, total, BENCH_HAND, NEW_HAND_SEED ^ 0x1234);
const toBytes = (i: number) => Array.from(drawn.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
let next = 0;
const take = () => next++;

interface Servers {
  url: string;
  pgids: number[];
  log(): string;
  stop(): Promise<void>;
}

/** `npm start` as a user runs it: one wrangler dev, one workerd process. */
async function startOne(): Promise<Servers> {
  const server = await startLocalServer({
    command: ['node_modules/.bin/tsx', 'scripts/start.ts'],
    env: { FINE_TUNE_TOKEN: TOKEN },
  });
  return { url: server.url, pgids: [server.pgid], log: server.log, stop: server.stop };
}

/**
 * The worker and its writer in two wrangler dev processes on one seeded bucket: the app's `MODEL_WRITER` names
 * the writer worker (`script_name`), which holds the class and its migration.
 */
async function startSplit(): Promise<Servers> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-mlp-split-'));
  const persistTo = join(dir, 'bucket');
  const config = readFileSync('wrangler.toml', 'utf8').replace(
    /^main = .*$/m,
    `main = ${JSON.stringify(resolve('src/worker/index.ts'))}`,
  );
  const app = config
    .replace('class_name = "ModelWriter"\n', 'class_name = "ModelWriter"\nscript_name = "edge-mlp-writer"\n')
    .replace(/\[\[migrations\]\][^[]*/, '');
  writeFileSync(join(dir, 'app.toml'), app);
  writeFileSync(join(dir, 'writer.toml'), config.replace(/^name = "edge-mlp"$/m, 'name = "edge-mlp-writer"'));
  await seedLocal({ persistTo });
  const env = {
    FINE_TUNE_TOKEN: TOKEN,
    WRANGLER_REGISTRY_PATH: join(dir, 'registry'),
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  };
  const dev = async (name: string) => [
    'node_modules/.bin/wrangler',
    'dev',
    '-c',
    join(dir, name),
    '--ip',
    '127.0.0.1',
    '--show-interactive-dev-session=false',
    '--inspector-port',
    String(await freePort()),
  ];
  const writer = await startLocalServer({ command: await dev('writer.toml'), env, persistTo });
  if (writerNice) execFileSync('renice', ['-n', String(writerNice), '-g', String(writer.pgid)]);
  const server = await startLocalServer({ command: await dev('app.toml'), env, persistTo });
  // The app finds the writer through the registry; wait until it answers through it.
  for (let i = 0; ; i++) {
    const res = await fetch(`${server.url}/feedback?limit=1`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    if (res.status === 200) break;
    if (i > 120) throw new Error(`the app never reached its writer: ${res.status} ${await res.text()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url: server.url,
    pgids: [server.pgid, writer.pgid],
    log: () => `${server.log()}\n--- writer ---\n${writer.log()}`,
    stop: async () => {
      await server.stop();
      await writer.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const server = split ? await startSplit() : await startOne();
const { url, pgids } = server;
const headers = (ip: string, token = false) => ({
  'Content-Type': 'application/json',
  'CF-Connecting-IP': ip,
  ...(token ? { Authorization: `Bearer ${TOKEN}` } : {}),
});

async function fineTune(ip: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const examples = Array.from({ length: EXAMPLES_PER_FINE_TUNE }, () => {
    const i = take();
    return { image: toBytes(i), label: test.labels[i] };
  });
  const res = await fetch(`${url}/fine-tune`, {
    method: 'POST',
    headers: headers(ip, true),
    // /fine-tune's default settings (the lineage workflow's, fitted to the work ceiling).
    body: JSON.stringify({ pixelScale: '0-255', examples }),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    // Not JSON: wrangler dev's own 503 ("Your worker restarted mid-request"), reported as such.
    return { status: res.status, body: { error: { code: 'not_json', message: text.slice(0, 120) } } };
  }
}

/** Every /predict that did not answer 200 (reported, never hidden). */
const predictErrors: string[] = [];
const predictImages = Array.from({ length: 50 }, () => toBytes(take()));
async function predictLoop(until: () => boolean, concurrency = 4): Promise<number[]> {
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let k = 0; !until(); k++) {
        const t = performance.now();
        let res;
        try {
          res = await fetch(`${url}/predict`, {
            method: 'POST',
            headers: headers('203.0.113.1'),
            body: JSON.stringify({ pixelScale: '0-255', image: predictImages[(w * 13 + k) % 50] }),
          });
        } catch (err) {
          // A connection the server dropped (wrangler dev restarting its runtime): counted, never hidden.
          predictErrors.push((err as Error).message);
          continue;
        }
        const text = await res.text();
        if (res.status !== 200) predictErrors.push(`${res.status}: ${text.slice(0, 120)}`);
        else times.push(performance.now() - t);
      }
    }),
  );
  return times.sort((a, b) => a - b);
}

const countOf = (items: (string | undefined)[]) =>
  items.reduce<Record<string, number>>((m, k) => ((m[k ?? '?'] = (m[k ?? '?'] ?? 0) + 1), m), {});
const statusCount = (statuses: number[]) =>
  Object.entries(statuses.reduce<Record<number, number>>((m, s) => ((m[s] = (m[s] ?? 0) + 1), m), {}))
    .map(([s, n]) => `${n} × ${s}`)
    .join(', ');

async function history(): Promise<{ version: string; parent: string | null; source: string }[]> {
  const res = await fetch(`${url}/model`);
  return ((await res.json()) as { history: { version: string; parent: string | null; source: string }[] })
    .history;
}

/**
 * The history once the worker's cached pointer has caught up: `GET /model` answers from it, revalidated every
 * MODEL_REVALIDATE_SECONDS, so right after a write the newest versions may not be listed yet (a stale read).
 */
async function settledHistory(): ReturnType<typeof history> {
  await new Promise((r) => setTimeout(r, REVALIDATE_MS + 500));
  return history();
}

let rollbacks = 0;
/** Makes the published model current again (through the writer), so the next phase starts a fresh lineage. */
async function toRoot(root: string): Promise<void> {
  if ((await settledHistory())[0].version === root) return;
  const res = await fetch(`${url}/model/rollback`, {
    method: 'POST',
    headers: headers(`198.18.9.${rollbacks++}`, true),
    body: JSON.stringify({ version: root }),
  });
  if (res.status !== 200) throw new Error(`rollback to ${root}: ${res.status} ${await res.text()}`);
}

try {
  const root = (await history())[0].version;
  // Warm up: the model cached in the worker and in the writer, the kernels compiled.
  const warm = await fineTune('198.18.0.250');
  if (warm.status !== 200) throw new Error(`warm-up fine-tune: ${warm.status} ${JSON.stringify(warm.body)}`);
  await predictLoop(
    (
      (n) => () =>
        n-- <= 0
    )(200),
  );

  // Predictions at rest.
  let restLeft = quick ? 200 : 2000;
  const rest = await predictLoop(() => restLeft-- <= 0);

  // 30 uncontended fine-tunes: one after the other.
  await toRoot(root);
  let cpu0 = serverCpuMs(pgids);
  const sequential: number[] = [];
  for (let i = 0; i < FINE_TUNES; i++) sequential.push((await fineTune(`198.18.1.${i}`)).status);
  const sequentialCpu = serverCpuMs(pgids) - cpu0;

  // 30 at once, nothing else running: their CPU.
  await toRoot(root);
  const before = (await settledHistory())[0].version;
  cpu0 = serverCpuMs(pgids);
  let t0 = performance.now();
  const burst = await Promise.all(Array.from({ length: FINE_TUNES }, (_, i) => fineTune(`198.18.2.${i}`)));
  const burstWall = performance.now() - t0;
  const burstCpu = serverCpuMs(pgids) - cpu0;

  // The chain those 30 made: each parent the version before it, one entry per accepted fine-tune.
  const accepted = burst
    .filter((r) => r.status === 200)
    .map((r) => r.body as { version: string; attempts: number });
  const h = await settledHistory();
  const added = h.slice(0, accepted.length);
  const chained =
    h[accepted.length].version === before &&
    added.every((e, i) => e.source === 'fine-tune' && e.parent === h[i + 1].version) &&
    new Set(added.map((e) => e.version)).size === accepted.length &&
    accepted.every((a) => added.some((e) => e.version === a.version));

  // 30 at once again, with predictions running throughout.
  await toRoot(root);
  let done = false;
  t0 = performance.now();
  const during = predictLoop(() => done);
  const burst2 = await Promise.all(Array.from({ length: FINE_TUNES }, (_, i) => fineTune(`198.18.3.${i}`)));
  done = true;
  const duringTimes = await during;
  const burst2Wall = performance.now() - t0;

  // 1,000 corrections from 50 clients, 50 in flight, with predictions running throughout.
  const fb: { status: number; id?: number; code?: string }[] = [];
  const queue = Array.from({ length: FEEDBACK }, (_, k) => k);
  let fbDone = false;
  const duringFeedback = predictLoop(() => fbDone);
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let k = queue.shift(); k !== undefined; k = queue.shift()) {
        const i = take();
        const res = await fetch(`${url}/feedback`, {
          method: 'POST',
          headers: headers(`192.0.2.${k % CLIENTS}`),
          body: JSON.stringify({
            pixelScale: '0-255',
            image: toBytes(i),
            label: test.labels[i],
            modelVersion: 'loadtest',
          }),
        });
        const body = (await res.json()) as { id?: number; error?: { code: string } };
        fb.push({ status: res.status, id: body.id, code: body.error?.code });
      }
    }),
  );
  const feedbackWall = performance.now() - t0;
  fbDone = true;
  const duringFeedbackTimes = await duringFeedback;
  const stored = fb.filter((r) => r.status === 201).map((r) => r.id!);
  const refused = fb.filter((r) => r.status >= 400 && r.status < 500);

  // Count them back, page by page.
  const listed: number[] = [];
  type Counts = { pending: { total: number; byLabel: Record<string, number> } };
  let counts: Counts | null = null as Counts | null;
  for (let after = 0; ;) {
    const res = await fetch(`${url}/feedback?status=pending&limit=200&after=${after}`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    const page = (await res.json()) as { items: { id: number }[]; next: number | null; counts: Counts };
    counts = page.counts;
    listed.push(...page.items.map((i) => i.id));
    if (page.next === null) break;
    after = page.next;
  }
  const same =
    listed.length === stored.length &&
    [...listed].sort((a, b) => a - b).join() === [...stored].sort((a, b) => a - b).join();

  // Bad input: each a 4xx, nothing stored.
  const one = toBytes(take());
  const bad: [string, string | Record<string, unknown>][] = [
    ['malformed', '{"pixelScale":"0-255","image":[1,2'],
    ['unlabelled', { pixelScale: '0-255', image: one, modelVersion: 'x' }],
    ['label 10', { pixelScale: '0-255', image: one, label: 10, modelVersion: 'x' }],
    ['label -1', { pixelScale: '0-255', image: one, label: -1, modelVersion: 'x' }],
    [
      'pixel 256',
      { pixelScale: '0-255', image: one.map((v, j) => (j ? v : 256)), label: 1, modelVersion: 'x' },
    ],
    ['783 pixels', { pixelScale: '0-255', image: one.slice(1), label: 1, modelVersion: 'x' }],
    ['no ink', { pixelScale: '0-255', image: new Array(784).fill(0), label: 1, modelVersion: 'x' }],
    ['oversized', { pixelScale: '0-255', image: one, label: 1, modelVersion: 'x', pad: 'x'.repeat(400_000) }],
  ];
  const badResults: string[] = [];
  for (const [name, body] of bad) {
    const res = await fetch(`${url}/feedback`, {
      method: 'POST',
      headers: headers('192.0.2.250'),
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const err = (await res.json()) as { error?: { code: string } };
    badResults.push(`${name} ${res.status} ${err.error?.code}`);
  }
  const afterBad = (await (
    await fetch(`${url}/feedback?limit=1`, { headers: { Authorization: `Bearer ${TOKEN}` } })
  ).json()) as { counts: { pending: { total: number } } };

  // One apply, on the published model.
  await toRoot(root);
  t0 = performance.now();
  const applyRes = await fetch(`${url}/feedback/apply`, {
    method: 'POST',
    headers: headers('192.0.2.251', true),
    body: '{}',
  });
  const applyWall = performance.now() - t0;
  const apply = (await applyRes.json()) as Record<string, unknown>;
  const consumed = (apply.consumed as number[] | undefined) ?? [];
  const historyAfter = await settledHistory();
  const again = await fetch(`${url}/feedback/apply`, {
    method: 'POST',
    headers: headers('192.0.2.251', true),
    body: '{}',
  });
  const againBody = (await again.json()) as { error?: { code: string } };
  // Which version consumed which items: every consumed id listed as applied in the new version.
  const appliedIn = new Map<number, string | null>();
  for (let after = 0; ;) {
    const res = await fetch(`${url}/feedback?status=applied&limit=200&after=${after}`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    const page = (await res.json()) as {
      items: { id: number; appliedIn: string | null }[];
      next: number | null;
    };
    for (const item of page.items) appliedIn.set(item.id, item.appliedIn);
    if (page.next === null) break;
    after = page.next;
  }
  const recorded = consumed.filter((id) => appliedIn.get(id) === apply.version).length;
  const oneVersion =
    historyAfter[0].version === apply.version &&
    historyAfter[0].parent === root &&
    historyAfter[1].version === root;

  const restP99 = quantile(rest, 0.99);
  const duringP99 = quantile(duringTimes, 0.99);
  console.log(`# model writer load test (${quick ? 'quick' : 'full'}), ${new Date().toISOString()}`);
  const settings = (accepted[0] as { settings?: Record<string, unknown> } | undefined)?.settings;
  console.log(
    `${split ? `worker and writer in two workerd processes (--split-writer${writerNice ? `, writer at nice ${writerNice}` : ''})` : 'one workerd process (npm start)'}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log(
    `fine-tunes: ${EXAMPLES_PER_FINE_TUNE} examples each, /fine-tune's defaults (${JSON.stringify(settings)}), default model; each phase from the published model`,
  );
  console.log(
    `  ${FINE_TUNES} one after the other: ${statusCount(sequential)}; workerd CPU ${ms(sequentialCpu)}`,
  );
  console.log(
    `  ${FINE_TUNES} at once: ${statusCount(burst.map((r) => r.status))}; attempts ${[...new Set(accepted.map((a) => a.attempts))].join('/')}; ` +
      `one chain: ${chained}; wall ${ms(burstWall)}; workerd CPU ${ms(burstCpu)} = ${(burstCpu / sequentialCpu).toFixed(2)}× the uncontended`,
  );
  if (!chained) {
    // Why not, in full: the history's newest entries against the versions the 200s named.
    process.exitCode = 1;
    const entry = (e: { version: string; parent: string | null; source: string }) =>
      `${e.version} <- ${e.parent} (${e.source})`;
    console.log(`  not one chain; before: ${before}; accepted: ${accepted.map((a) => a.version).join(', ')}`);
    console.log(
      `  history, newest first:\n    ${h
        .slice(0, accepted.length + 3)
        .map(entry)
        .join('\n    ')}`,
    );
  }
  console.log(
    `  ${FINE_TUNES} at once with predictions running: ${statusCount(burst2.map((r) => r.status))}; wall ${ms(burst2Wall)}`,
  );
  const refusedCodes = [...burst, ...burst2]
    .filter((r) => r.status !== 200)
    .map((r) => (r.body as { error?: { code: string } }).error?.code);
  if (refusedCodes.length) console.log(`  refusals: ${JSON.stringify(countOf(refusedCodes))}`);
  console.log(
    `/predict: at rest p50 ${ms(quantile(rest, 0.5))} p99 ${ms(restP99)} (n=${rest.length}); during the fine-tune burst p50 ` +
      `${ms(quantile(duringTimes, 0.5))} p99 ${ms(duringP99)} (n=${duringTimes.length}) = ${(duringP99 / restP99).toFixed(2)}× at rest; ` +
      `during the feedback burst p50 ${ms(quantile(duringFeedbackTimes, 0.5))} p99 ${ms(quantile(duringFeedbackTimes, 0.99))} ` +
      `(n=${duringFeedbackTimes.length}) = ${(quantile(duringFeedbackTimes, 0.99) / restP99).toFixed(2)}× at rest`,
  );
  const codes = countOf(refused.map((r) => r.code));
  console.log(
    `feedback: ${FEEDBACK} posts from ${CLIENTS} clients in ${ms(feedbackWall)}: ${statusCount(fb.map((r) => r.status))}` +
      `${refused.length ? ` (${JSON.stringify(codes)})` : ''}; lost: ${FEEDBACK - stored.length - refused.length}`,
  );
  console.log(
    `  counted back: ${listed.length} pending listed (counts say ${counts?.pending.total}), same ids as the 201s: ${same}`,
  );
  console.log(`  bad input: ${badResults.join('; ')}; pending after: ${afterBad.counts.pending.total}`);
  const guard = apply.guard as
    { passed: boolean; checks: { name: string; drop: number; bound: number }[] } | undefined;
  console.log(
    `apply: ${applyRes.status} in ${ms(applyWall)}, version ${apply.version} from ${apply.parentVersion}, one new version on the published one: ${oneVersion}` +
      `${oneVersion ? '' : ` (history ${JSON.stringify(historyAfter.slice(0, 2))})`}; ` +
      `consumed ${consumed.length}, recorded as applied in that version: ${recorded}; trained ${apply.trained}, held out ${(apply.heldOut as { count?: number } | null)?.count ?? 0}, ` +
      `settings ${JSON.stringify(apply.settings)}, work ${apply.work}; guard passed ${guard?.passed} ` +
      `(${guard?.checks.map((c) => `${c.name} ${c.drop.toFixed(3)}/${c.bound}`).join(', ')}); ` +
      `review share ${(apply.review as { share?: number } | undefined)?.share}` +
      (applyRes.status === 200
        ? ''
        : `; ${JSON.stringify((apply as { error?: unknown }).error).slice(0, 600)}`),
  );
  console.log(`  second apply: ${again.status} ${againBody.error?.code}`);
  console.log(
    `/predict errors over the run: ${predictErrors.length}${predictErrors.length ? ` (${predictErrors.slice(0, 3).join(' | ')})` : ''}`,
  );
  if (/restarted|Reloading/i.test(server.log()))
    console.log('note: the server reloaded during the run (a file changed?)');
} catch (err) {
  console.error(`failed; the server's log ends:\n${server.log().slice(-3000)}`);
  throw err;
} finally {
  // LOADTEST_LOG=file keeps the server's whole log (wrangler and workerd) for a look afterwards.
  if (process.env.LOADTEST_LOG) writeFileSync(process.env.LOADTEST_LOG, server.log());
  await server.stop();
}
