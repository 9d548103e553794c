/**
 * @module
 * Kernel micro-benchmark: GFLOP/s of the GEMM shapes training and serving use, and one-image latency of the
 * full 784-1024-512-10 forward (GEMMs only: no bias or activation), for the TypeScript reference and the
 * WebAssembly kernels (plain and relaxed SIMD, 1 and 2 threads; wall clock, plus CPU time for one thread).
 * `benchKernels` is reusable; run directly it prints a table.
 * With `--train-step`, instead: each kernel call of a batch-128 `Trainer.step` (the bench's network, plain
 * SGD, MNIST batches) timed on 1 and 2 threads, median and minimum per call, and the step against their sum.
 * Usage: tsx scripts/bench-kernels.ts [--quick] [--train-step]
 */
import { pathToFileURL } from 'node:url';
import { loadavg } from 'node:os';
import { int8RowSums, type Kernels } from '../src/kernels/kernels.ts';
import { createRng, Mlp, shuffleInPlace, Trainer } from '../src/nn/index.ts';
import { gatherBatch } from './lib/augment.ts';
import { loadDataset, MNIST_DIR, type Examples } from './lib/dataset.ts';
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

/** One kernel call of a training step: method(m×n×k, or the length for the optimizer's views). */
export interface StepCall {
  call: string;
  /** Calls of this kind per step. */
  perStep: number;
  medianUs: number;
  minUs: number;
}

const TIMED_CALLS = ['gemm', 'gemmTN', 'gemmNT', 'linear', 'linearGradInput', 'sgdUpdate'] as const;

/**
 * Times every kernel call of `steps` batch-128 training steps (after 20 warm-up steps) of the bench's network
 * (plain SGD, lr 1e-3, the origin's init) on shuffled batches of `train`, through a wrapper of `kernels`.
 */
export function profileTrainingStep(
  kernels: Kernels,
  train: Examples,
  steps: number,
): { calls: StepCall[]; stepMedianUs: number; stepMinUs: number } {
  const batch = 128;
  const times = new Map<string, number[]>();
  let timing = false;
  const timed = Object.create(kernels) as Kernels;
  for (const name of TIMED_CALLS) {
    const fn = (kernels[name] as (...args: unknown[]) => void).bind(kernels);
    Object.assign(timed, {
      [name]: (...args: unknown[]) => {
        const start = performance.now();
        fn(...args);
        const ms = performance.now() - start;
        if (!timing) return;
        const shape =
          typeof args[0] === 'number' ? args.slice(0, 3).join('x') : (args[0] as Float32Array).length;
        const key = `${name}(${shape})`;
        (times.get(key) ?? times.set(key, []).get(key)!).push(ms);
      },
    });
  }
  const net = Mlp.create({ sizes: LAYERS, alpha: 0.01 }, timed, { scheme: 'origin', seed: 1 });
  const trainer = new Trainer(net, { kind: 'sgd', lr: 1e-3, momentum: 0, l1: 0, l2: 0 }, batch);
  const x = kernels.alloc(batch * LAYERS[0]);
  const labels = new Uint8Array(batch);
  const order = new Uint32Array(train.count).map((_, i) => i);
  shuffleInPlace(order, createRng(7));
  const stepMs: number[] = [];
  for (let s = 0, cursor = 0; s < steps + 20; s++, cursor += batch) {
    if (cursor + batch > train.count) cursor = 0;
    gatherBatch(train.images, train.labels, order, cursor, batch, 28, 28, x, labels, null);
    timing = s >= 20;
    const start = performance.now();
    trainer.step(x, labels, batch);
    if (timing) stepMs.push(performance.now() - start);
  }
  trainer.dispose();
  net.dispose();
  kernels.free(x);
  const sorted = (a: number[]) => [...a].sort((p, q) => p - q);
  const calls = [...times].map(([call, t]) => ({
    call,
    perStep: t.length / steps,
    medianUs: sorted(t)[t.length >> 1] * 1000,
    minUs: sorted(t)[0] * 1000,
  }));
  return { calls, stepMedianUs: sorted(stepMs)[steps >> 1] * 1000, stepMinUs: sorted(stepMs)[0] * 1000 };
}

async function trainStep(quick: boolean): Promise<void> {
  const { train } = loadDataset(MNIST_DIR);
  for (const threads of [1, 2]) {
    const kernels = await loadKernels({ backend: 'wasm', threads });
    try {
      const p = profileTrainingStep(kernels, train, quick ? 50 : 200);
      console.log(
        `${kernels.name}, batch 128, load ${loadavg()[0].toFixed(2)}: µs per call, median / minimum`,
      );
      let sum = 0;
      for (const c of p.calls) {
        sum += c.medianUs * c.perStep;
        const per = c.perStep === 1 ? '' : ` ×${c.perStep.toFixed(2)}`;
        console.log(
          `  ${(c.call + per).padEnd(36)} ${c.medianUs.toFixed(0).padStart(6)} / ${c.minUs.toFixed(0)}`,
        );
      }
      console.log(
        `  step ${p.stepMedianUs.toFixed(0)} / ${p.stepMinUs.toFixed(0)}; the calls' medians sum to ${sum.toFixed(0)}`,
      );
    } finally {
      await kernels.dispose();
    }
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--train-step')) return trainStep(quick);
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
