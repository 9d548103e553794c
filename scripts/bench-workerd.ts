/**
 * @module
 * `npx tsx scripts/bench-workerd.ts [--iterations N] [--rounds R] [--requests N] [--pieces a,b] [--first-only]
 * [--threads] [--cold a,b]`:
 * the Worker's own CPU for
 * `/predict`, measured inside workerd (`wrangler dev` on the committed default model, local R2), where its timers
 * cannot be used (they only advance on I/O): the CPU time the kernel accounts to the workerd processes (every
 * thread's `/proc/<pid>/task/<tid>/schedstat`, nanoseconds) around a request or a run of requests.
 * - the first `/predict` of a fresh isolate (the server is started and waited for on `/docs`, which touches no
 *   model): fetching the blob from the local R2 bucket (emulated in workerd, so counted here too), decoding
 *   it, building the predictor, one image, the answer;
 * - the pieces of `/predict` for one 0-255 JSON image, each run N times inside the isolate by the bench entry
 *   (`lib/bench-workerd-entry.ts`: the Worker plus `/__bench/run`): the CPU of a call with N iterations minus a
 *   call with none, over N, medians of R rounds. `app` is the whole request through Hono as served; `handler`
 *   the route's work without Hono's routing and middleware; the rest its parts. The HTTP layer of `wrangler
 *   dev` (miniflare's entry worker and proxy, ~2 ms a request) is outside all of them;
 * - per HTTP request, for reference: `/health` and a valid JSON image, sequential requests.
 * `--cold loading|a,b` times steps of loading the model in the fresh isolate instead, one request each (`coldStep`
 * of the entry; `loading`: blob, kernels, CRC both ways, decode, pair re-layout, row sums; `serving`: all of the
 * model's loading), before the first /predict (which then finds them warm).
 * `--pieces` runs only the named pieces (and leaves out the sums that need the others); `--first-only` stops after
 * the fresh isolate's first `/predict` (one sample per server: run it several times, alternated with a baseline);
 * `--threads` also prints that request's CPU by thread (workerd's, the dev proxy's, V8's background compiles).
 * Not part of `npm run bench` (it starts a server). Linux only (`/proc`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seedLocal } from './seed-local.ts';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { freePort } from './lib/local-server.ts';
import { workerdPids } from './lib/process-stats.ts';
import { median } from './lib/bench-stats.ts';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '300' },
    pieces: { type: 'string' },
    'first-only': { type: 'boolean', default: false },
    threads: { type: 'boolean', default: false },
    cold: { type: 'string' },
  },
});
const iterations = Number(values.iterations);
const rounds = Number(values.rounds);
const requests = Number(values.requests);

/** Nanoseconds on CPU of every thread of the processes. */
function cpuNs(pids: readonly number[]): number {
  let ns = 0;
  for (const pid of pids) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // exited
    }
    for (const tid of tasks) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // exited
      }
    }
  }
  return ns;
}

/** Nanoseconds on CPU of each thread of the processes, by `pid/tid:name` (V8's compile threads apart). */
function perThread(pids: readonly number[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const pid of pids)
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      m.set(
        `${pid}/${tid}:${comm}`,
        Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]),
      );
    }
  return m;
}

const { test } = loadDataset(MNIST_DIR);
// One 0-255 JSON image per body, as a web form sends it (no `pixelScale`: inferred; no `preprocess`: the model's).
const bodies = Array.from({ length: 64 }, (_, i) =>
  JSON.stringify({
    image: Array.from(test.images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)),
  }),
);

/** The bench entry under `wrangler dev` on a freshly seeded local bucket, ready when `/docs` answers. */
async function startServer(): Promise<{ url: string; pgid: number; stop(): void }> {
  const port = await freePort();
  const persistTo = mkdtempSync(join(tmpdir(), 'edge-mlp-bench-workerd-'));
  await seedLocal({ persistTo });
  const args = ['dev', 'scripts/lib/bench-workerd-entry.ts', '--port', String(port), '--ip', '127.0.0.1'];
  args.push('--persist-to', persistTo, '--show-interactive-dev-session=false');
  const env = { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...process.env };
  const child = spawn('node_modules/.bin/wrangler', args, { detached: true, stdio: 'ignore', env });
  const stop = () => {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
    rmSync(persistTo, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 240_000; Date.now() < deadline;) {
    try {
      if ((await fetch(`${url}/docs`)).status === 200) return { url, pgid: child.pid!, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  stop();
  throw new Error('bench-workerd: the server did not answer /docs within 240 s');
}

/** Workerd's CPU in ns for `fn`, less what the processes burn idle over the same wall time. */
async function cpuOf(pids: number[], idleNsPerMs: number, fn: () => Promise<unknown>): Promise<number> {
  const c0 = cpuNs(pids);
  const t0 = performance.now();
  await fn();
  return cpuNs(pids) - c0 - idleNsPerMs * (performance.now() - t0);
}

const PIECES = [
  ['read', 'the body as text (Request.text())'],
  ['read-bytes', 'the body as bytes, then TextDecoder (for comparison)'],
  ['read-json', 'Request.json() (for comparison)'],
  ['parse', 'JSON.parse of the text'],
  ['validate', "zod PredictRequest (safeParseAsync, as zod-openapi's validator calls it)"],
  ['input', 'jsonInput: pixels to [0, 1], ink map, blank test'],
  ['prepare', 'preprocessing (the model was trained on prepared images)'],
  ['infer', "the network (predictor.predict, int8): the network's own time"],
  ['verdict', 'temperature and verdict'],
  ['answer', "the answer's JSON text"],
  ['handler', 'the route without Hono: read, parse, validate, input, predict(), answer text'],
  [
    'handler-parsed',
    'the route without Hono from the body text on: parse, validate, input, predict(), answer',
  ],
  ['predict-call', 'predict() on a ready input: model cache, preparation, network, verdict, answer body'],
  ['request', 'making the Request (subtracted from app and handler)'],
  ['app', 'the whole request through Hono (app.fetch), as served'],
  ['health', 'GET /health through Hono, for reference'],
] as const;
/** The pieces to run: all, or those named (the bench entry may have more than this list describes). */
const chosen: readonly (readonly [string, string])[] = values.pieces
  ? values.pieces
      .split(',')
      .map((p) => PIECES.find(([name]) => name === p) ?? [p, '(a piece of the bench entry)'])
  : PIECES;

/** Each chosen piece's CPU per image inside the isolate (see the module comment), medians of the rounds. */
async function measurePieces(url: string, pids: number[], idleNsPerMs: number): Promise<void> {
  const handed = await fetch(`${url}/__bench/bodies`, {
    method: 'POST',
    body: JSON.stringify(bodies),
  });
  if (handed.status !== 200) throw new Error(`/__bench/bodies: ${handed.status} ${await handed.text()}`);
  const runPiece = async (piece: string, n: number) => {
    const res = await fetch(`${url}/__bench/run?piece=${piece}&n=${n}`, { method: 'POST' });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${piece}: ${res.status} ${text}`);
  };
  const perImage = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const [piece] of chosen) {
      await runPiece(piece, 200); // warm
      const empty = await cpuOf(pids, idleNsPerMs, () => runPiece(piece, 0));
      const full = await cpuOf(pids, idleNsPerMs, () => runPiece(piece, iterations));
      perImage.set(piece, [...(perImage.get(piece) ?? []), (full - empty) / iterations / 1e3]);
    }
  }
  const us = (piece: string) => median(perImage.get(piece)!);
  for (const [piece, what] of chosen)
    console.log(`  ${piece.padEnd(8)} ${us(piece).toFixed(1).padStart(7)} µs  ${what}`);
  if (chosen.length < PIECES.length) return;
  const sum = ['read', 'parse', 'validate', 'input', 'prepare', 'infer', 'verdict', 'answer'].reduce(
    (a, p) => a + us(p),
    0,
  );
  const handler = us('handler') - us('request');
  const served = us('app') - us('request');
  console.log(
    `  so, per image: parts ${sum.toFixed(1)} µs, handler ${handler.toFixed(1)} µs = ${(handler / us('infer')).toFixed(2)}x ` +
      `the network, through Hono ${served.toFixed(1)} µs = ${(served / us('infer')).toFixed(2)}x ` +
      `(medians of ${rounds} rounds of ${iterations}; less the Request's making)`,
  );
}

/** CPU per HTTP request through `wrangler dev`, for reference. */
async function measureRequests(
  url: string,
  pids: number[],
  idleNsPerMs: number,
  post: (body: string) => Promise<Response>,
): Promise<void> {
  const kinds: [string, (i: number) => Promise<Response>, number][] = [
    ['GET /health', () => fetch(`${url}/health`), 200],
    ['valid JSON image (200)', (i) => post(bodies[i % 64]), 200],
  ];
  const perRequest = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, send, status] of kinds) {
      for (let i = 0; i < 20; i++) await (await send(i)).arrayBuffer(); // warm
      const ns = await cpuOf(pids, idleNsPerMs, async () => {
        for (let i = 0; i < requests; i++) {
          const res = await send(i);
          await res.arrayBuffer();
          if (res.status !== status) throw new Error(`${name}: ${res.status}, expected ${status}`);
        }
      });
      perRequest.set(name, [...(perRequest.get(name) ?? []), ns / 1e3 / requests]);
    }
  }
  for (const [name] of kinds) {
    console.log(
      `  over HTTP, ${name}: ${median(perRequest.get(name)!).toFixed(1)} µs CPU per request (wrangler dev's layer included)`,
    );
  }
}

/** The cold steps of the bench entry, each the first of its kind in this isolate, less a request's own CPU. */
async function measureColdSteps(
  url: string,
  pids: number[],
  idleNsPerMs: number,
  cold: string,
): Promise<void> {
  const step = async (name: string) =>
    (await cpuOf(pids, idleNsPerMs, async () => {
      const res = await fetch(`${url}/__bench/cold?step=${name}`, { method: 'POST' });
      if (res.status !== 200) throw new Error(`cold ${name}: ${res.status} ${await res.text()}`);
      if (name === 'crc-check') console.log(`  crc-check: ${await res.text()}`);
    })) / 1e6;
  const handed = await fetch(`${url}/__bench/bodies`, { method: 'POST', body: JSON.stringify(bodies) });
  if (handed.status !== 200) throw new Error(`/__bench/bodies: ${handed.status} ${await handed.text()}`);
  const noops = [];
  for (let i = 0; i < 5; i++) noops.push(await step('noop'));
  const request = median(noops);
  const steps =
    cold === 'loading'
      ? ['blob', 'kernels', 'crc-js', 'crc-wasm', 'decode', 'pack', 'sums']
      : cold.split(',');
  const cost = [];
  for (const name of steps) cost.push(`${name} ${((await step(name)) - request).toFixed(2)}`);
  console.log(`  cold steps, ms of CPU less a request's ${request.toFixed(2)}: ${cost.join(', ')}`);
}

const server = await startServer();
try {
  const pids = workerdPids(server.pgid);
  const post = (body: string) =>
    fetch(`${server.url}/predict`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  console.log(`bench-workerd: workerd pids ${pids.join(', ')}, load ${loadavg()[0].toFixed(2)}`);
  await new Promise((r) => setTimeout(r, 1000));
  const idle0 = cpuNs(pids);
  await new Promise((r) => setTimeout(r, 1000));
  const idleNsPerMs = (cpuNs(pids) - idle0) / 1000;
  // With --cold the steps come first, while everything is cold; the first /predict then finds them warm.
  if (values.cold !== undefined) await measureColdSteps(server.url, pids, idleNsPerMs, values.cold);
  const t0 = performance.now();
  let firstText = '';
  let firstStatus = 0;
  const before = perThread(pids);
  const firstNs = await cpuOf(pids, idleNsPerMs, async () => {
    const res = await post(bodies[0]);
    firstStatus = res.status;
    firstText = await res.text();
  });
  const after = perThread(pids);
  if (values.threads) {
    const busy = [...after]
      .map(([t, ns]) => `${t} ${((ns - (before.get(t) ?? 0)) / 1e6).toFixed(2)} ms`)
      .filter((x) => !x.endsWith(' 0.00 ms'));
    console.log(`  the first /predict by thread: ${busy.join(', ')}`);
  }
  if (firstStatus !== 200) throw new Error(`first /predict: ${firstStatus} ${firstText}`);
  console.log(
    `  first /predict ${values.cold !== undefined ? 'after the cold steps' : 'of a fresh isolate'}: ${(firstNs / 1e6).toFixed(1)} ms CPU (wall ${(performance.now() - t0).toFixed(1)} ms; idle CPU ${(idleNsPerMs / 1e3).toFixed(1)} µs/ms subtracted)`,
  );

  if (!values['first-only'] && values.cold === undefined) {
    await measurePieces(server.url, pids, idleNsPerMs);
    if (!values.pieces) await measureRequests(server.url, pids, idleNsPerMs, post);
  }
  console.log(`  load ${loadavg()[0].toFixed(2)} at the end`);
} finally {
  server.stop();
}
