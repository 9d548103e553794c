/**
 * @module
 * `npm run bench:uploads`: CPU time of every PNG in the hostile corpus through the worker's image path
 * (`decodePng`, then for the accepted ones the ink map, the blank test and both preparations, plain and deskewed,
 * as `prepareUpload` in `src/worker/predict.ts` does), slowest first, and the slowest accepted upload: the
 * figure the decoder's limits are chosen by (target: well under 50 ms). Median of `--repeats` runs after a
 * warm-up, process CPU clock; the first (cold) run is printed too. Shared machines are noisy: quote medians.
 * `--worker` sends the whole corpus (multipart cases too) to a real `wrangler dev` instead and reads the workerd
 * processes' CPU per request and peak resident memory from `/proc` (see `lib/bench-uploads-worker.ts`).
 * Usage: npm run bench:uploads -- [--repeats 9] [--json] [--worker [--only NAME-PART]]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { decodePng, PngError } from '../src/data/png.ts';
import { preprocessInkBoth, PreprocessError, toGray, toInk } from '../src/data/preprocess.ts';
import { isBlankInk } from '../src/data/verdict.ts';
import { hostilePngCases } from './lib/hostile-corpus.ts';
import { cpuNowMs, median } from './lib/bench-stats.ts';
import { benchWorkerUploads } from './lib/bench-uploads-worker.ts';

interface Row {
  name: string;
  bytes: number;
  outcome: string;
  coldMs: number;
  medianMs: number;
  maxMs: number;
}

/** One upload through decode and preprocess, as the worker does it; resolves to what happened. */
async function upload(body: Uint8Array): Promise<string> {
  try {
    const image = await decodePng(body);
    const ink = toInk(toGray(image), image.width, image.height);
    if (isBlankInk(ink, image.width, image.height)) return 'accepted (blank)';
    preprocessInkBoth(ink, image.width, image.height);
    return 'accepted';
  } catch (err) {
    if (err instanceof PngError) return err.code;
    if (err instanceof PreprocessError) return err.code;
    throw err;
  }
}

async function cpuOf(body: Uint8Array): Promise<{ ms: number; outcome: string }> {
  const c0 = cpuNowMs();
  const outcome = await upload(body);
  return { ms: cpuNowMs() - c0, outcome };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repeats: { type: 'string', default: '9' },
      json: { type: 'boolean', default: false },
      worker: { type: 'boolean', default: false },
      only: { type: 'string', default: '' },
    },
  });
  const repeats = Math.max(1, Number(values.repeats));
  if (values.worker) return printWorker(repeats, values.json!, values.only!);
  const rows: Row[] = [];
  for (const c of hostilePngCases()) {
    const cold = await cpuOf(c.body);
    const runs: number[] = [];
    for (let i = 0; i < repeats; i++) runs.push((await cpuOf(c.body)).ms);
    rows.push({
      name: c.name,
      bytes: c.body.length,
      outcome: cold.outcome,
      coldMs: cold.ms,
      medianMs: median(runs),
      maxMs: Math.max(...runs),
    });
  }
  rows.sort((a, b) => b.medianMs - a.medianMs);
  const accepted = rows.filter((r) => r.outcome.startsWith('accepted'));
  const refused = rows.filter((r) => !r.outcome.startsWith('accepted'));
  if (values.json) {
    console.log(JSON.stringify({ repeats, rows }, null, 2));
    return;
  }
  console.log(
    `decode + preprocess CPU per upload, median of ${repeats} after one cold run; ${cpus()[0].model}, ` +
      `${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`,
  );
  console.log(
    `${'case'.padEnd(44)} ${'bytes'.padStart(8)} ${'outcome'.padEnd(12)} cold ms  median ms  max ms`,
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(44)} ${String(r.bytes).padStart(8)} ${r.outcome.padEnd(12)} ${r.coldMs.toFixed(1).padStart(7)}` +
        ` ${r.medianMs.toFixed(1).padStart(10)} ${r.maxMs.toFixed(1).padStart(7)}`,
    );
  }
  const slowest = accepted[0];
  console.log(
    `\nslowest accepted upload: ${slowest.name} (${slowest.bytes} bytes), median ${slowest.medianMs.toFixed(1)} ms` +
      ` CPU (cold ${slowest.coldMs.toFixed(1)} ms)`,
  );
  console.log(
    `slowest refused upload: ${refused[0].name} (${refused[0].outcome}), median ${refused[0].medianMs.toFixed(1)} ms CPU`,
  );
}

/** The corpus through `wrangler dev`: workerd CPU per request and peak memory growth. */
async function printWorker(repeats: number, json: boolean, only: string): Promise<void> {
  const rows = await benchWorkerUploads(repeats, only);
  if (json) {
    console.log(JSON.stringify({ repeats, rows }, null, 2));
    return;
  }
  console.log(
    `POST /predict on wrangler dev, ${repeats} requests per case; workerd CPU per request (/proc, 10 ms ticks over ` +
      `the run) and peak RSS growth since warm-up; ${cpus()[0].model}, load ${loadavg()[0].toFixed(1)}`,
  );
  console.log(`${'case'.padEnd(44)} ${'bytes'.padStart(8)} status  CPU ms/req  wall ms/req  peak growth MiB`);
  for (const r of rows) {
    const statuses = [...new Set(r.statuses)].join('/');
    const flag = r.statuses.every((s) => s === r.expected) ? '' : `  (expected ${r.expected})`;
    console.log(
      `${r.name.padEnd(44)} ${String(r.bytes).padStart(8)} ${statuses.padEnd(7)} ${r.cpuMsPerRequest.toFixed(1).padStart(10)}` +
        ` ${r.wallMsPerRequest.toFixed(1).padStart(12)} ${(r.peakGrowthBytes / 2 ** 20).toFixed(1).padStart(16)}${flag}`,
    );
  }
  const byCpu = [...rows].sort((a, b) => b.cpuMsPerRequest - a.cpuMsPerRequest);
  const accepted = byCpu.filter((r) => r.expected === 200);
  const refused = byCpu.filter((r) => r.expected !== 200);
  const peak = Math.max(...rows.map((r) => r.peakGrowthBytes));
  if (accepted[0]) {
    console.log(
      `\nslowest accepted upload: ${accepted[0].name}, ${accepted[0].cpuMsPerRequest.toFixed(1)} ms CPU per request`,
    );
  }
  if (refused[0]) {
    console.log(
      `slowest refused upload: ${refused[0].name}, ${refused[0].cpuMsPerRequest.toFixed(1)} ms CPU per request`,
    );
  }
  console.log(`5xx answers: ${rows.filter((r) => r.statuses.some((s) => s >= 500)).length} cases`);
  console.log(`peak workerd RSS growth over the corpus: ${(peak / 2 ** 20).toFixed(1)} MiB`);
}

await main();
