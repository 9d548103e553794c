/**
 * @module
 * Kernel micro-benchmark: GFLOP/s of the GEMM shapes training and serving use, and one-image latency of the
 * full 784-1024-512-10 forward (GEMMs only: no bias or activation), for the TypeScript reference and the
 * WebAssembly kernels (plain and relaxed SIMD, 1 and 2 threads; wall clock, plus CPU time for one thread).
 * `benchKernels` is reusable; run directly it prints a table.
 * Usage: tsx scripts/bench-kernels.ts [--quick]
 */
import { pathToFileURL } from 'node:url';
import { int8RowSums, type Kernels } from '../src/kernels/kernels.ts';
import { loadKernels } from './lib/kernels-node.ts';

export interface BenchRow {
  kernels: string;
  case: string;
  /** GFLOP/s for GEMM cases, microseconds for latency cases. */
  value: number;
  unit: 'GFLOP/s' | 'us';
}

const LAYERS = [784, 1024, 512, 10];

/**
 * Which clock to read: `wall` (real time, what a user waits) or `cpu` (this process's user CPU time: on a
 * busy shared machine it ignores the time other processes hold the core; meaningless with helper threads).
 */
export type Clock = 'wall' | 'cpu';

const now: Record<Clock, () => number> = {
  wall: () => performance.now(),
  cpu: () => process.cpuUsage().user / 1000,
};

/**
 * Best time per call in milliseconds over `rounds` rounds of about `roundMs` each: the minimum filters out
 * a shared machine's noise better than the mean.
 */
export function bestTimeMs(fn: () => void, roundMs = 150, rounds = 5, clock: Clock = 'wall'): number {
  const read = now[clock];
  fn();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const start = read();
    let elapsed = 0;
    do {
      fn();
      calls++;
      elapsed = read() - start;
    } while (elapsed < roundMs);
    best = Math.min(best, elapsed / calls);
  }
  return best;
}

function random(kernels: Kernels, length: number, seed: number): Float32Array {
  const array = kernels.alloc(length);
  let s = seed;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    array[i] = (s / 2 ** 32) * 2 - 1;
  }
  return array;
}

/** Measures one kernel set; `roundMs` trades precision for time; `label` names the column (default: kernels.name). */
export function benchKernels(
  kernels: Kernels,
  roundMs = 150,
  clock: Clock = 'wall',
  label = kernels.name,
): BenchRow[] {
  const rows: BenchRow[] = [];
  const time = (fn: () => void) => bestTimeMs(fn, roundMs, 5, clock);
  const gflops = (name: string, m: number, n: number, k: number, fn: () => void) => {
    rows.push({ kernels: label, case: name, value: (2 * m * n * k) / time(fn) / 1e6, unit: 'GFLOP/s' });
  };
  const [inp, hid] = [784, 1024];
  const x = random(kernels, 128 * inp, 1);
  const w = random(kernels, hid * inp, 2);
  const y = kernels.alloc(128 * hid);
  gflops('fwd 128x784x1024 (gemmNT)', 128, hid, inp, () => kernels.gemmNT(128, hid, inp, x, w, y));
  gflops('fwd 16x784x1024 (gemmNT)', 16, hid, inp, () => kernels.gemmNT(16, hid, inp, x, w, y));
  gflops('wgrad 1024x784, batch 128 (gemmTN)', hid, inp, 128, () => kernels.gemmTN(hid, inp, 128, y, x, w));
  gflops('bwd dx 128x1024x784 (gemm)', 128, inp, hid, () => kernels.gemm(128, inp, hid, y, w, x));

  // One image through the whole network, float32 and int8.
  const weights = LAYERS.slice(1).map((n, l) => random(kernels, n * LAYERS[l], 10 + l));
  const acts = LAYERS.map((n, l) => random(kernels, n, 20 + l));
  const quantized = weights.map((wl) => {
    const q = kernels.allocInt8(wl.length);
    for (let i = 0; i < wl.length; i++) q[i] = Math.round(wl[i] * 127);
    return q;
  });
  const scales = LAYERS.slice(1).map((n) => kernels.alloc(n).fill(1 / 127));
  // Computed once per weight matrix, as the predictor does: spares the relaxed build summing rows per call.
  const rowSums = quantized.map((q, l) =>
    int8RowSums(LAYERS[l + 1], LAYERS[l], q, kernels.alloc(LAYERS[l + 1])),
  );
  const biases = LAYERS.slice(1).map((n) => kernels.alloc(n));
  const f32 = time(() => {
    for (let l = 0; l < 3; l++) kernels.gemmNT(1, LAYERS[l + 1], LAYERS[l], acts[l], weights[l], acts[l + 1]);
  });
  rows.push({ kernels: label, case: 'one image 784-1024-512-10 f32', value: f32 * 1000, unit: 'us' });
  const i8 = time(() => {
    for (let l = 0; l < 3; l++) {
      const [k, n] = [LAYERS[l], LAYERS[l + 1]];
      kernels.linearInt8(1, n, k, acts[l], quantized[l], scales[l], biases[l], acts[l + 1], rowSums[l]);
    }
  });
  rows.push({ kernels: label, case: 'one image 784-1024-512-10 int8', value: i8 * 1000, unit: 'us' });

  for (const a of [x, w, y, ...weights, ...acts, ...quantized, ...scales, ...biases, ...rowSums])
    kernels.free(a);
  return rows;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const roundMs = quick ? 40 : 150;
  const all: BenchRow[] = [];
  const runs = [
    { backend: 'ts', threads: 1, clock: 'wall' },
    { backend: 'wasm', threads: 1, relaxed: false, clock: 'wall' },
    { backend: 'wasm', threads: 1, clock: 'wall' },
    { backend: 'wasm', threads: 2, clock: 'wall' },
    { backend: 'wasm', threads: 1, clock: 'cpu' },
  ] as const;
  for (const { clock, ...options } of runs) {
    const kernels = await loadKernels(options);
    try {
      const label = clock === 'cpu' ? `${kernels.name} (CPU time)` : kernels.name;
      all.push(
        ...benchKernels(kernels, options.backend === 'ts' ? Math.min(roundMs, 60) : roundMs, clock, label),
      );
    } finally {
      await kernels.dispose();
    }
  }
  const names = [...new Set(all.map((r) => r.kernels))];
  const cases = [...new Set(all.map((r) => r.case))];
  console.log(['case', ...names].join(' | '));
  for (const c of cases) {
    const cells = names.map((n) => {
      const row = all.find((r) => r.kernels === n && r.case === c);
      return row ? `${row.value.toFixed(1)} ${row.unit}` : '-';
    });
    console.log([c, ...cells].join(' | '));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
