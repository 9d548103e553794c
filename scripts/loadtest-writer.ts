/**
 * @module
 * `npm run loadtest:writer [-- --quick]`: the model writer under load, against `npm start` (wrangler dev, local R2
 * and Durable Object, the committed default model). Measures, in one run:
 * - 30 fine-tunes one after the other (uncontended), then 30 at once from 30 clients: statuses, the version chain,
 *   and the workerd process CPU of each burst (from /proc: the fine-tunes' whole cost, retrains included);
 * - /predict latency at rest and during a burst of 30 concurrent fine-tunes;
 * - 1,000 corrections from 50 clients (the benchmark's "new hand": MNIST test digits redrawn thick, slanted and
 *   bent, none of them in training): statuses, counted back with GET /feedback, then one apply;
 * - bad feedback (malformed, oversized, unlabelled, out of range): 4xx each, nothing stored.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { startLocalServer } from './lib/local-server.ts';
import { BENCH_HAND, drawInHand, NEW_HAND_SEED } from './lib/new-hand.ts';

const quick = process.argv.includes('--quick');

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
        res.on('error', reject);
      },
    );
    req.setTimeout(120_000, () =>
      req.destroy(new Error(`${init.method ?? 'GET'} ${target}: no answer in 120 s`)),
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
const TOKEN = 'loadtest-token';
const FINE_TUNES = 30;
const CLIENTS = 50;
const FEEDBACK = quick ? 200 : 1000;
const EXAMPLES_PER_FINE_TUNE = 8;

const TICK = 100; // USER_HZ
/** utime + stime of every workerd process in the server's process group, in ms. */
function serverCpuMs(pgid: number): number {
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
    if (Number(fields[2]) !== pgid || !comm.includes('workerd')) continue;
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

const server = await startLocalServer({
  command: ['node_modules/.bin/tsx', 'scripts/start.ts'],
  env: { FINE_TUNE_TOKEN: TOKEN },
});
const { url, pgid } = server;
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
    body: JSON.stringify({ pixelScale: '0-255', examples, steps: 10, learningRate: 0.01 }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
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
        const res = await fetch(`${url}/predict`, {
          method: 'POST',
          headers: headers('203.0.113.1'),
          body: JSON.stringify({ pixelScale: '0-255', image: predictImages[(w * 13 + k) % 50] }),
        });
        const text = await res.text();
        if (res.status !== 200) predictErrors.push(`${res.status}: ${text.slice(0, 120)}`);
        else times.push(performance.now() - t);
      }
    }),
  );
  return times.sort((a, b) => a - b);
}

const statusCount = (statuses: number[]) =>
  Object.entries(statuses.reduce<Record<number, number>>((m, s) => ((m[s] = (m[s] ?? 0) + 1), m), {}))
    .map(([s, n]) => `${n} × ${s}`)
    .join(', ');

async function history(): Promise<{ version: string; parent: string | null; source: string }[]> {
  const res = await fetch(`${url}/model`);
  return ((await res.json()) as { history: { version: string; parent: string | null; source: string }[] })
    .history;
}

try {
  // Warm up: the model cached in the worker and in the writer, the kernels compiled.
  for (let i = 0; i < 20; i++) await predictLoop(() => true);
  const warm = await fineTune('198.18.0.250');
  if (warm.status !== 200) throw new Error(`warm-up fine-tune: ${warm.status} ${JSON.stringify(warm.body)}`);
  await predictLoop(
    (
      (n) => () =>
        n-- <= 0
    )(200),
  );

  // Predictions at rest.
  let restLeft = quick ? 200 : 600;
  const rest = await predictLoop(() => restLeft-- <= 0);

  // 30 uncontended fine-tunes: one after the other.
  let cpu0 = serverCpuMs(pgid);
  const sequential: number[] = [];
  for (let i = 0; i < FINE_TUNES; i++) sequential.push((await fineTune(`198.18.1.${i}`)).status);
  const sequentialCpu = serverCpuMs(pgid) - cpu0;

  // 30 at once, nothing else running: their CPU.
  const before = (await history())[0].version;
  cpu0 = serverCpuMs(pgid);
  let t0 = performance.now();
  const burst = await Promise.all(Array.from({ length: FINE_TUNES }, (_, i) => fineTune(`198.18.2.${i}`)));
  const burstWall = performance.now() - t0;
  const burstCpu = serverCpuMs(pgid) - cpu0;

  // The chain those 30 made: each parent the version before it, one entry per accepted fine-tune.
  const accepted = burst
    .filter((r) => r.status === 200)
    .map((r) => r.body as { version: string; attempts: number });
  const h = await history();
  const added = h.slice(0, accepted.length);
  const chained =
    h[accepted.length].version === before &&
    added.every((e, i) => e.source === 'fine-tune' && e.parent === h[i + 1].version) &&
    new Set(added.map((e) => e.version)).size === accepted.length &&
    accepted.every((a) => added.some((e) => e.version === a.version));

  // 30 at once again, with predictions running throughout.
  let done = false;
  t0 = performance.now();
  const during = predictLoop(() => done);
  const burst2 = await Promise.all(Array.from({ length: FINE_TUNES }, (_, i) => fineTune(`198.18.3.${i}`)));
  done = true;
  const duringTimes = await during;
  const burst2Wall = performance.now() - t0;

  // 1,000 corrections from 50 clients, 50 in flight.
  const fb: { status: number; id?: number; code?: string }[] = [];
  const queue = Array.from({ length: FEEDBACK }, (_, k) => k);
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

  // One apply.
  const historyBefore = (await history()).length;
  t0 = performance.now();
  const applyRes = await fetch(`${url}/feedback/apply`, {
    method: 'POST',
    headers: headers('192.0.2.251', true),
    body: '{}',
  });
  const applyWall = performance.now() - t0;
  const apply = (await applyRes.json()) as Record<string, unknown>;
  const consumed = (apply.consumed as number[] | undefined) ?? [];
  const historyAfter = await history();
  const again = await fetch(`${url}/feedback/apply`, {
    method: 'POST',
    headers: headers('192.0.2.251', true),
    body: '{}',
  });
  const againBody = (await again.json()) as { error?: { code: string } };

  const restP99 = quantile(rest, 0.99);
  const duringP99 = quantile(duringTimes, 0.99);
  console.log(`# model writer load test (${quick ? 'quick' : 'full'}), ${new Date().toISOString()}`);
  console.log(`fine-tunes: ${EXAMPLES_PER_FINE_TUNE} examples × 10 steps each, default model`);
  console.log(
    `  ${FINE_TUNES} one after the other: ${statusCount(sequential)}; workerd CPU ${ms(sequentialCpu)}`,
  );
  console.log(
    `  ${FINE_TUNES} at once: ${statusCount(burst.map((r) => r.status))}; attempts ${[...new Set(accepted.map((a) => a.attempts))].join('/')}; ` +
      `one chain: ${chained}; wall ${ms(burstWall)}; workerd CPU ${ms(burstCpu)} = ${(burstCpu / sequentialCpu).toFixed(2)}× the uncontended`,
  );
  console.log(
    `  ${FINE_TUNES} at once with predictions running: ${statusCount(burst2.map((r) => r.status))}; wall ${ms(burst2Wall)}`,
  );
  console.log(
    `/predict: at rest p50 ${ms(quantile(rest, 0.5))} p99 ${ms(restP99)} (n=${rest.length}); during the burst p50 ` +
      `${ms(quantile(duringTimes, 0.5))} p99 ${ms(duringP99)} (n=${duringTimes.length}) = ${(duringP99 / restP99).toFixed(2)}× at rest`,
  );
  const codes = refused.reduce<Record<string, number>>(
    (m, r) => ((m[r.code!] = (m[r.code!] ?? 0) + 1), m),
    {},
  );
  console.log(
    `feedback: ${FEEDBACK} posts from ${CLIENTS} clients in ${ms(feedbackWall)}: ${statusCount(fb.map((r) => r.status))}` +
      `${refused.length ? ` (${JSON.stringify(codes)})` : ''}; lost: ${FEEDBACK - stored.length - refused.length}`,
  );
  console.log(
    `  counted back: ${listed.length} pending listed (counts say ${counts?.pending.total}), same ids as the 201s: ${same}`,
  );
  console.log(`  bad input: ${badResults.join('; ')}; pending after: ${afterBad.counts.pending.total}`);
  console.log(
    `apply: ${applyRes.status} in ${ms(applyWall)}, version ${apply.version} from ${apply.parentVersion}, consumed ${consumed.length}, ` +
      `steps ${apply.steps}, guard ${JSON.stringify(apply.guard)}, history +${historyAfter.length - historyBefore}` +
      ` (capped at 50 entries), review share ${(apply.review as { share?: number } | undefined)?.share}`,
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
  await server.stop();
}
