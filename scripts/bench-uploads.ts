/**
 * @module
 * `npm run bench:uploads`: CPU time of every PNG in the hostile corpus through the worker's image path
 * (`decodePng`, then `preprocess` for the accepted ones), slowest first, and the slowest accepted upload: the
 * figure the decoder's limits are chosen by (target: well under 50 ms). Median of `--repeats` runs after a
 * warm-up, process CPU clock; the first (cold) run is printed too. Shared machines are noisy: quote medians.
 * Usage: npm run bench:uploads -- [--repeats 9] [--json]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { decodePng, PngError } from '../src/data/png.ts';
import { preprocess, PreprocessError } from '../src/data/preprocess.ts';
import { hostilePngCases } from './lib/hostile-corpus.ts';
import { cpuNowMs, median } from './lib/bench-stats.ts';

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
    preprocess(image);
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
    options: { repeats: { type: 'string', default: '9' }, json: { type: 'boolean', default: false } },
  });
  const repeats = Math.max(1, Number(values.repeats));
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
  const accepted = rows.filter((r) => r.outcome === 'accepted');
  const refused = rows.filter((r) => r.outcome !== 'accepted');
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

await main();
