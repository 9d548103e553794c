/**
 * @module
 * `npm run loadtest [-- --requests N] [--batch-size B] [--connections C] [--fine-tune-clients K] [--model FILE]
 * [--server-log FILE] [--url http://127.0.0.1:PORT --token T] [--uploads [--probe-requests N]]`: autocannon against
 * the local server with fine-tunes running alongside; `--uploads` instead measures a fifth client's `/predict`
 * while four send the most expensive accepted upload back to back (`lib/upload-load.ts`, issue #11).
 * Without `--url` it starts its own server as `npm start` does, on a free port and a temp bucket, and stops it at
 * the end. Localhost only; not part of the unit suite.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIdxImages, parseIdxLabels } from '../src/data/idx.ts';
import { encodeModel, paramCount } from '../src/format/index.ts';
import { createRng } from '../src/nn/index.ts';
import { IDX_FILES, MNIST_DIR, readMaybeGzip } from './lib/dataset.ts';
import { startLocalServer } from './lib/local-server.ts';
import { printUploadLoad } from './lib/upload-load.ts';
import { DEFAULT_MODEL } from './seed-local.ts';

// autocannon ships no types; this is the part of its result used here.
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}
type Cannon = (options: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) =>
  argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback;
const REQUESTS = Number(flag('--requests', '10000'));
const BATCH_SIZE = Number(flag('--batch-size', '32'));
const CONNECTIONS = Number(flag('--connections', '16'));
const FINE_TUNE_CLIENTS = Number(flag('--fine-tune-clients', '4'));
/** A fifth of the /predict requests are batches. */
const BATCH_SHARE = 0.2;
const STARTUP_MS = 240_000;

function localOnly(url: string): string {
  const { hostname } = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) {
    throw new Error(`--url must be a local server (127.0.0.1, localhost or [::1]), not ${hostname}`);
  }
  return url.replace(/\/$/, '');
}

/** An untrained network of the default shape: same cost per request, meaningless answers. */
function untrainedModel(path: string): void {
  const sizes = [784, 1024, 512, 10];
  const rng = createRng(1);
  const params = new Float32Array(paramCount(sizes)).map(() => (rng() - 0.5) * 0.08);
  writeFileSync(
    path,
    encodeModel({
      sizes,
      alpha: 0.01,
      encoding: 'f32',
      params,
      metadata: { dataset: 'none (untrained, for load tests)', createdAt: new Date().toISOString() },
    }),
  );
}

interface Server {
  url: string;
  token: string | null;
  /** The server's process group (only for a server this script started): for its workerd CPU. */
  pgid?: number;
  /** Warnings and errors the server logged (only for a server this script started). */
  problems(): string[];
  stop(): Promise<void> | void;
}

/** Starts `scripts/start.ts` (what `npm start` runs) on a free port with a fresh bucket and a random token. */
async function startServer(): Promise<Server> {
  let model = flag('--model', DEFAULT_MODEL);
  const dir = mkdtempSync(join(tmpdir(), 'edge-mlp-load-'));
  if (!existsSync(model)) {
    console.warn(
      `loadtest: ${model} not found; using an untrained 784-1024-512-10 model (same cost per request)`,
    );
    model = join(dir, 'untrained.bin');
    untrainedModel(model);
  }
  const token = randomBytes(24).toString('hex');
  const server = await startLocalServer({
    command: ['node_modules/.bin/tsx', 'scripts/start.ts'],
    model,
    env: { FINE_TUNE_TOKEN: token },
    startupMs: STARTUP_MS,
  });
  const problems = () => [
    ...new Set(
      server
        .log()
        .split('\n')
        .filter((l) => /error|warn|unavailable|exceed|reload|503|500/i.test(l) && !/secrets/.test(l)),
    ),
  ];
  const stop = async () => {
    if (argv.includes('--server-log')) writeFileSync(flag('--server-log', ''), server.log());
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: server.url, token, pgid: server.pgid, problems, stop };
}

/** Real MNIST test digits (0-255) with their labels. */
function digits(count: number): { images: number[][]; labels: number[] } {
  const images = parseIdxImages(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testImages)));
  const labels = parseIdxLabels(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testLabels)));
  const out = { images: [] as number[][], labels: [] as number[] };
  for (let i = 0; i < count; i++) {
    out.images.push(Array.from(images.pixels.subarray(i * 784, (i + 1) * 784)));
    out.labels.push(labels.labels[i]);
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

interface FineTuneTally {
  statuses: Record<string, number>;
  latencies: number[];
  /** Bodies of the first answers that are neither a success nor a refusal by design. */
  samples: string[];
}

/** `clients` simulated clients (own CF-Connecting-IP each), each sending small fine-tunes back to back. */
function fineTuneLoad(url: string, token: string, data: ReturnType<typeof digits>, clients: number) {
  const tally: FineTuneTally = { statuses: {}, latencies: [], samples: [] };
  let running = true;
  const client = async (c: number) => {
    for (let n = 0; running; n++) {
      const at = (c * 97 + n * 8) % (data.images.length - 8);
      const examples = Array.from({ length: 8 }, (_, i) => ({
        image: data.images[at + i],
        label: data.labels[at + i],
      }));
      const started = performance.now();
      let status = 'error';
      try {
        const res = await fetch(`${url}/fine-tune`, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            Authorization: `Bearer ${token}`,
            // Locally the server takes the client address from this header (Cloudflare sets it in production).
            'CF-Connecting-IP': `10.9.0.${c + 1}`,
          },
          body: JSON.stringify({ pixelScale: '0-255', examples, steps: 4, learningRate: 0.01 }),
        });
        status = String(res.status);
        const text = await res.text();
        if (![200, 409, 422, 429].includes(res.status) && tally.samples.length < 5) {
          tally.samples.push(`${res.status} ${text.slice(0, 300)}`);
        }
        if (res.status === 429) await new Promise((r) => setTimeout(r, 1000));
      } catch {
        // counted as 'error'
      }
      tally.latencies.push(performance.now() - started);
      tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
    }
  };
  const done = Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  return {
    tally,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function predictPhase(url: string, body: string, amount: number): Promise<CannonResult> {
  return autocannon({
    url: `${url}/predict`,
    connections: CONNECTIONS,
    amount,
    timeout: 30,
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body,
  });
}

function row(name: string, r: CannonResult): string {
  const errors = r.errors + r.timeouts + r.non2xx;
  const codes = Object.entries(r.statusCodeStats)
    .map(([code, s]) => `${code}×${s.count}`)
    .join(' ');
  return `| ${name} | ${r.requests.total} | ${r.requests.average.toFixed(0)} | ${r.latency.p50} | ${r.latency.p99} | ${errors} | ${codes} |`;
}

async function main(): Promise<void> {
  const given = argv.includes('--url') ? localOnly(flag('--url', '')) : null;
  const server: Server = given
    ? {
        url: given,
        token: argv.includes('--token') ? flag('--token', '') : null,
        problems: () => [],
        stop: () => {},
      }
    : await startServer();
  try {
    const data = digits(512);
    const single = JSON.stringify({ pixelScale: '0-255', image: data.images[0] });
    const batch = JSON.stringify({ pixelScale: '0-255', images: data.images.slice(0, BATCH_SIZE) });
    const batchCount = Math.round(REQUESTS * BATCH_SHARE);
    // Warm-up: the isolate loads and decodes the model on its first request.
    await (
      await fetch(`${server.url}/predict`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: single,
      })
    ).text();
    if (argv.includes('--uploads')) {
      const ok = await printUploadLoad(server, single, Number(flag('--probe-requests', '1000')));
      if (!ok) process.exitCode = 1;
      return;
    }

    const fineTunes = server.token ? fineTuneLoad(server.url, server.token, data, FINE_TUNE_CLIENTS) : null;
    if (!fineTunes)
      console.warn('loadtest: no token for the server given (--token); running without fine-tunes');
    console.log(
      `loadtest: ${REQUESTS - batchCount} single + ${batchCount} batch(${BATCH_SIZE}) /predict requests, ` +
        `${CONNECTIONS} connections, ${fineTunes ? FINE_TUNE_CLIENTS : 0} fine-tune clients, against ${server.url}`,
    );
    const started = performance.now();
    const singleResult = await predictPhase(server.url, single, REQUESTS - batchCount);
    const batchResult = await predictPhase(server.url, batch, batchCount);
    await fineTunes?.stop();
    const seconds = (performance.now() - started) / 1000;

    const lines = [
      '| phase | requests | req/s | p50 ms | p99 ms | errors | status codes |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      row('/predict, 1 image', singleResult),
      row(`/predict, ${BATCH_SIZE} images`, batchResult),
    ];
    if (fineTunes) {
      const sorted = [...fineTunes.tally.latencies].sort((a, b) => a - b);
      const total = sorted.length;
      const codes = Object.entries(fineTunes.tally.statuses)
        .map(([code, n]) => `${code}×${n}`)
        .join(' ');
      const errors = Object.entries(fineTunes.tally.statuses)
        .filter(([code]) => !['200', '409', '422', '429'].includes(code))
        .reduce((a, [, n]) => a + n, 0);
      lines.push(
        `| /fine-tune alongside (8 examples × 4 steps) | ${total} | ${(total / seconds).toFixed(1)} | ` +
          `${percentile(sorted, 50).toFixed(0)} | ${percentile(sorted, 99).toFixed(0)} | ${errors} | ${codes} |`,
      );
    }
    console.log(`\n${lines.join('\n')}\n`);
    const predictErrors = [singleResult, batchResult].reduce(
      (a, r) => a + r.errors + r.timeouts + r.non2xx,
      0,
    );
    console.log(
      `loadtest: ${singleResult.requests.total + batchResult.requests.total} /predict requests in ` +
        `${seconds.toFixed(1)} s, ${predictErrors} errors` +
        (fineTunes ? ' (fine-tune 409/422/429 are refusals by design, not errors)' : ''),
    );
    if (fineTunes?.tally.samples.length)
      console.log(`unexpected fine-tune answers:\n${fineTunes.tally.samples.join('\n')}`);
    const problems = server.problems();
    if (problems.some((l) => l.includes('Reloading local server'))) {
      console.warn(
        'loadtest: wrangler reloaded the worker during the run (a file under src/ changed); requests in flight ' +
          'then fail with 503 "worker restarted mid-request". Rerun on a quiet tree for clean figures.',
      );
    }
    if (problems.length)
      console.log(`server log, warnings and errors (first 15):\n${problems.slice(0, 15).join('\n')}`);
    if (predictErrors > 0) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

main().catch((err: Error) => {
  console.error(`loadtest: ${err.message}`);
  process.exit(1);
});
