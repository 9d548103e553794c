/**
 * @module
 * `npx tsx scripts/bench-workerd.ts [--requests N]`: the Worker's own CPU for `/predict`, measured inside
 * workerd (`wrangler dev` on the committed default model, local R2), where its timers cannot be used (they
 * only advance on I/O): the CPU time the kernel accounts to the workerd processes (every thread's
 * `/proc/<pid>/task/<tid>/schedstat`, nanoseconds) around a request or a run of requests.
 * - the first `/predict` of the isolate (the server is started and waited for on `/docs`, which touches no
 *   model): fetching the blob from the local R2 bucket (emulated in workerd, so counted here too), decoding
 *   it, building the predictor, one image, the answer;
 * - per request, medians of rounds of N sequential requests of the same size (one 0-255 JSON image):
 *   `/health` (the HTTP layer alone), a body that is not JSON (+ parsing, refused), a JSON image with its last
 *   pixel out of range (+ validation of all 784 values, refused), a valid image (+ inference and the answer).
 *   The differences split a request into its pieces; they include the error answers' cost, so they are
 *   approximations, stated as such.
 * Not part of `npm run bench` (it starts a server). Linux only (`/proc`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { freePort } from './lib/local-server.ts';
import { workerdPids } from './lib/process-stats.ts';
import { median } from './lib/bench-stats.ts';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '500' }, rounds: { type: 'string', default: '5' } },
});
const requests = Number(values.requests);
const rounds = Number(values.rounds);

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

const { test } = loadDataset(MNIST_DIR);
const imageBody = (i: number, last?: number) => {
  const image = Array.from(test.images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
  if (last !== undefined) image[783] = last;
  return JSON.stringify({ pixelScale: '0-255', image });
};
const valid = Array.from({ length: 64 }, (_, i) => imageBody(i));
const badPixel = Array.from({ length: 64 }, (_, i) => imageBody(i, 256));
// Not JSON, the same size: parsing fails at its end.
const notJson = valid.map((b) => b.slice(0, -1) + ']');

/** `npm start`'s server (seeded local R2, wrangler dev), in its own process group, ready when `/docs` answers. */
async function startServer(): Promise<{ url: string; pgid: number; stop(): void }> {
  const port = await freePort();
  const persistTo = mkdtempSync(join(tmpdir(), 'edge-mlp-bench-workerd-'));
  const child = spawn('npx', ['tsx', 'scripts/start.ts', '--port', String(port), '--persist-to', persistTo], {
    detached: true,
    stdio: 'ignore',
  });
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
  const c0 = cpuNs(pids);
  const t0 = performance.now();
  const first = await post(valid[0]);
  const firstText = await first.text();
  const firstWallMs = performance.now() - t0;
  const firstCpuMs = (cpuNs(pids) - c0 - idleNsPerMs * firstWallMs) / 1e6;
  if (first.status !== 200) throw new Error(`first /predict: ${first.status} ${firstText}`);
  console.log(
    `  first /predict: ${firstCpuMs.toFixed(1)} ms CPU (wall ${firstWallMs.toFixed(1)} ms; idle CPU ${(idleNsPerMs / 1e3).toFixed(1)} µs/ms subtracted)`,
  );

  const kinds: [string, (i: number) => Promise<Response>, number][] = [
    ['GET /health', () => fetch(`${server.url}/health`), 200],
    ['not JSON (400)', (i) => post(notJson[i % 64]), 400],
    ['last pixel out of range (400)', (i) => post(badPixel[i % 64]), 400],
    ['valid JSON image (200)', (i) => post(valid[i % 64]), 200],
  ];
  const perRequest = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, send, status] of kinds) {
      for (let i = 0; i < 20; i++) await (await send(i)).arrayBuffer(); // warm
      const start = cpuNs(pids);
      const wall = performance.now();
      for (let i = 0; i < requests; i++) {
        const res = await send(i);
        await res.arrayBuffer();
        if (res.status !== status) throw new Error(`${name}: ${res.status}, expected ${status}`);
      }
      const us = (cpuNs(pids) - start - idleNsPerMs * (performance.now() - wall)) / 1e3 / requests;
      perRequest.set(name, [...(perRequest.get(name) ?? []), us]);
    }
  }
  const med = (name: string) => median(perRequest.get(name)!);
  for (const [name] of kinds) console.log(`  ${name}: ${med(name).toFixed(1)} µs CPU per request`);
  const [health, parse, validate, full] = kinds.map(([name]) => med(name));
  console.log(
    `  so: HTTP layer ${health.toFixed(1)} µs, + parsing ~${(parse - health).toFixed(1)} µs, ` +
      `+ validation ~${(validate - parse).toFixed(1)} µs, + inference and answer ~${(full - validate).toFixed(1)} µs ` +
      `(medians of ${rounds} rounds of ${requests}; load ${loadavg()[0].toFixed(2)} at the end)`,
  );
} finally {
  server.stop();
}
