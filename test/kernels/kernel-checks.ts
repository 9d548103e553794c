/**
 * @module
 * Conformance checks any `Kernels` must pass against the TypeScript reference, shared by the Node and the
 * workerd tests (so no Node APIs here). Not a test file itself: callers wrap it in their own `describe`.
 */
import { expect, it } from 'vitest';
import { crc32 } from '../../src/format/crc32.ts';
import { int8PairRows, int8RowSums, type Kernels } from '../../src/kernels/kernels.ts';
import {
  adamUpdateRef,
  gemmNTRef,
  gemmRef,
  gemmTNRef,
  linearGradInputRef,
  linearInt8Ref,
  linearInt8TRef,
  linearRef,
  linearTRef,
  sgdUpdateRef,
} from '../../src/kernels/ts-kernels.ts';

/** Deterministic uniform values in [-1, 1). */
export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32) * 2 - 1;
  };
}

export function randomArray(length: number, rand: () => number, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = rand();
  return out;
}

/** Largest |x − y| allowed for a float32 sum of `k` products of values in [-1, 1]. */
function gemmTolerance(k: number): number {
  return 1e-6 * (k + 1) + 1e-6;
}

function expectClose(actual: Float32Array, expected: Float32Array, tolerance: number, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  expect(worst, `${label}: worst difference at ${at}`).toBeLessThanOrEqual(tolerance);
}

/** Values like an image's pixels: in [0, 1], with runs of zeros (blank margins) longer than 16. */
function sparsePixels(length: number, rand: () => number): Float32Array {
  const out = new Float32Array(length);
  for (let p = 0; p < length; p++) out[p] = p % 56 < 30 ? 0 : Math.abs(rand());
  return out;
}

/**
 * Checks an int8 layer against the float reference within the error of quantizing x. Each row of x is
 * quantized with step s; rounding moves each x by at most s/2, so y_j moves by at most s/2 · Σ_k |q_jk| · scale_j
 * (plus float rounding). The step is amax/32767 for int16 rows (plain SIMD) and, for the relaxed build's 6-bit
 * rows with a zero point, (max(0, max x) − min(0, min x))/63.
 */
function expectWithinInt8Bound(
  kernels: Kernels,
  m: number,
  n: number,
  k: number,
  x: Float32Array,
  q: Int8Array,
  scale: Float32Array,
  expected: Float32Array,
  actual: Float32Array,
  label: string,
): void {
  const sixBit = kernels.name.includes('relaxed');
  for (let i = 0; i < m; i++) {
    let [lo, hi] = [0, 0];
    for (let p = 0; p < k; p++) {
      lo = Math.min(lo, x[i * k + p]);
      hi = Math.max(hi, x[i * k + p]);
    }
    const step = sixBit ? (hi - lo) / 63 : Math.max(hi, -lo) / 32767;
    for (let j = 0; j < n; j++) {
      let qSum = 0;
      for (let p = 0; p < k; p++) qSum += Math.abs(q[j * k + p]);
      const want = expected[i * n + j];
      const bound = (step * 0.5 * 1.001 * qSum + 1e-6 * k) * scale[j] + 1e-5 * (1 + Math.abs(want));
      expect(Math.abs(actual[i * n + j] - want), `${label} at ${i},${j}`).toBeLessThanOrEqual(bound);
    }
  }
}

const GEMMS = [
  { op: 'gemm', ref: gemmRef, aLen: (m: number, k: number) => m * k, bLen: (n: number, k: number) => k * n },
  {
    op: 'gemmTN',
    ref: gemmTNRef,
    aLen: (m: number, k: number) => k * m,
    bLen: (n: number, k: number) => k * n,
  },
  {
    op: 'gemmNT',
    ref: gemmNTRef,
    aLen: (m: number, k: number) => m * k,
    bLen: (n: number, k: number) => n * k,
  },
] as const;

/** Edge shapes: 1x1x1, odd sizes, non-multiples of 4/8/16, k = 1, k = 0, the few-rows dot path and more. */
export const EDGE_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 10, 512],
  [1, 17, 33],
  [2, 9, 5],
  [3, 5, 7],
  [4, 8, 16],
  [5, 9, 17],
  [7, 33, 1],
  [13, 17, 9],
  [16, 16, 16],
  [33, 31, 65],
  [6, 4, 0],
];

/** Registers the conformance `it`s for kernels made by `make` (called once per test). */
export function kernelConformance(make: () => Kernels, options: { large?: boolean } = {}): void {
  for (const { op, ref, aLen, bLen } of GEMMS) {
    it(`should match the reference ${op} on edge shapes, with and without accumulate`, () => {
      const kernels = make();
      const rand = seeded(7);
      for (const [m, n, k] of EDGE_SHAPES) {
        const a = randomArray(aLen(m, k), rand);
        const b = randomArray(bLen(n, k), rand);
        const c0 = randomArray(m * n, rand);
        for (const accumulate of [false, true]) {
          const expected = c0.slice();
          ref(m, n, k, a, b, expected, accumulate);
          const actual = c0.slice();
          kernels[op](m, n, k, a, b, actual, accumulate);
          expectClose(actual, expected, gemmTolerance(k), `${op} ${m}x${n}x${k} accumulate=${accumulate}`);
        }
      }
    });

    it(`should match the reference ${op} on arrays from alloc, including offset views`, () => {
      const kernels = make();
      const rand = seeded(11);
      const [m, n, k] = [37, 45, 29];
      const a = kernels.alloc(aLen(m, k) + 3);
      const b = kernels.alloc(bLen(n, k));
      const c = kernels.alloc(m * n);
      randomArray(a.length, rand, a);
      randomArray(b.length, rand, b);
      randomArray(c.length, rand, c);
      // A view that starts 3 floats into an allocated block: in the kernels' memory, not 64-byte aligned.
      const aView = a.subarray(3);
      for (const accumulate of [false, true]) {
        const expected = c.slice();
        ref(m, n, k, aView, b, expected, accumulate);
        kernels[op](m, n, k, aView, b, c, accumulate);
        expectClose(c, expected, gemmTolerance(k), `${op} alloc accumulate=${accumulate}`);
      }
      for (const x of [a, b, c]) kernels.free(x);
    });

    it(`should scale the product by alpha in ${op} (the fused SGD step: w += −lr·product)`, () => {
      const kernels = make();
      const rand = seeded(17);
      for (const [m, n, k] of [...EDGE_SHAPES, [128, 40, 16]] as [number, number, number][]) {
        const a = randomArray(aLen(m, k), rand);
        const b = randomArray(bLen(n, k), rand);
        const c0 = randomArray(m * n, rand);
        for (const accumulate of [false, true]) {
          for (const alpha of [-0.05, 2.5]) {
            const expected = c0.slice();
            ref(m, n, k, a, b, expected, accumulate, alpha);
            const actual = c0.slice();
            kernels[op](m, n, k, a, b, actual, accumulate, alpha);
            const label = `${op} ${m}x${n}x${k} accumulate=${accumulate} alpha=${alpha}`;
            expectClose(actual, expected, gemmTolerance(k) * Math.abs(alpha) + 1e-6, label);
          }
        }
      }
    });
  }

  it('should match the reference linear layer (bias, with and without LeakyReLU) on edge shapes', () => {
    const kernels = make();
    const rand = seeded(19);
    for (const [m, n, k] of [...EDGE_SHAPES, [16, 24, 40], [64, 100, 784], [1, 333, 800]] as [
      number,
      number,
      number,
    ][]) {
      const x = randomArray(m * k, rand);
      const w = randomArray(n * k, rand);
      const bias = randomArray(n, rand);
      for (const slope of [undefined, 0.01, 0]) {
        const expected = new Float32Array(m * n);
        linearRef(m, n, k, x, w, bias, expected, slope);
        const actual = new Float32Array(m * n).fill(NaN);
        kernels.linear(m, n, k, x, w, bias, actual, slope);
        expectClose(actual, expected, gemmTolerance(k) + 1e-6, `linear ${m}x${n}x${k} slope=${slope}`);
      }
    }
  });

  it('should match the reference linear layer with transposed weights (linearT), dense and sparse inputs', () => {
    const kernels = make();
    const rand = seeded(37);
    // [1, 1024, 784]: one image through the first layer; [1, 333, 800] and [3, 300, 900]: few rows, large enough to
    // split across threads; [9, 40, 50]: just past the row-by-row path.
    for (const [m, n, k] of [
      ...EDGE_SHAPES,
      [16, 24, 40],
      [64, 100, 784],
      [1, 333, 800],
      [3, 300, 900],
      [8, 64, 100],
      [9, 40, 50],
      [1, 1024, 784],
    ] as [number, number, number][]) {
      for (const input of ['signed', 'sparse pixels', 'all zero'] as const) {
        const x =
          input === 'signed'
            ? randomArray(m * k, rand)
            : input === 'all zero'
              ? new Float32Array(m * k)
              : sparsePixels(m * k, rand);
        const wt = randomArray(k * n, rand);
        const bias = randomArray(n, rand);
        for (const slope of [undefined, 0.01]) {
          const expected = new Float32Array(m * n);
          linearTRef(m, n, k, x, wt, bias, expected, slope);
          const actual = new Float32Array(m * n).fill(NaN);
          kernels.linearT(m, n, k, x, wt, bias, actual, slope);
          const label = `linearT ${m}x${n}x${k} ${input} slope=${slope}`;
          expectClose(actual, expected, gemmTolerance(k) + 1e-6, label);
          // Scaled and added to an old y before the bias and activation (a predictor's split second layer).
          const old = randomArray(m * n, rand);
          const expectedAdded = old.slice();
          const addOptions = { accumulate: true, alpha: 0.75 };
          linearTRef(m, n, k, x, wt, bias, expectedAdded, slope, addOptions);
          const added = old.slice();
          kernels.linearT(m, n, k, x, wt, bias, added, slope, addOptions);
          expectClose(added, expectedAdded, gemmTolerance(k) + 1e-6, `${label} accumulate alpha`);
          // The same weights as the first n columns of wider rows (NaN past them, never read), x through ReLU.
          const stride = n + 5;
          const wide = new Float32Array(k * stride).fill(NaN);
          for (let p = 0; p < k; p++) wide.set(wt.subarray(p * n, (p + 1) * n), p * stride);
          const wideOptions = { wtStride: stride, reluInput: true };
          const expectedWide = new Float32Array(m * n);
          linearTRef(m, n, k, x, wide, bias, expectedWide, slope, wideOptions);
          const actualWide = new Float32Array(m * n).fill(NaN);
          kernels.linearT(m, n, k, x, wide, bias, actualWide, slope, wideOptions);
          expectClose(actualWide, expectedWide, gemmTolerance(k) + 1e-6, `${label} wider rows, ReLU input`);
        }
      }
    }
  });

  it('should give NaN where an input is NaN in linearT, though it skips zero inputs', () => {
    const kernels = make();
    for (const [n, k] of [
      [7, 9],
      [333, 800],
    ]) {
      const x = sparsePixels(k, seeded(41));
      x[k - 1] = NaN;
      const y = new Float32Array(n);
      kernels.linearT(1, n, k, x, randomArray(k * n, seeded(43)), new Float32Array(n), y, 0.01);
      expect(Array.from(y).every(Number.isNaN), `${n}x${k}`).toBe(true);
    }
  });

  it('should add alpha·a·b into c for a few rows split across threads (gemm, accumulate)', () => {
    const kernels = make();
    const rand = seeded(47);
    for (const [m, n, k] of [
      [1, 333, 800],
      [3, 300, 900],
    ]) {
      const a = sparsePixels(m * k, rand);
      const b = randomArray(k * n, rand);
      const c0 = randomArray(m * n, rand);
      for (const alpha of [1, -0.05]) {
        const expected = c0.slice();
        gemmRef(m, n, k, a, b, expected, true, alpha);
        const actual = c0.slice();
        kernels.gemm(m, n, k, a, b, actual, true, alpha);
        expectClose(actual, expected, gemmTolerance(k) + 1e-6, `gemm ${m}x${n}x${k} alpha=${alpha}`);
      }
    }
  });

  it('should match the reference gradient through a LeakyReLU (linearGradInput) on edge shapes', () => {
    const kernels = make();
    const rand = seeded(29);
    // The last two: a sparse dy (as after a LeakyReLU of slope 0), through the zero-skipping products.
    for (const [m, n, k, sparse] of [
      ...EDGE_SHAPES,
      [16, 1024, 512],
      [1, 333, 800],
      [4, 300, 900],
      [30, 40, 100, true],
      [128, 96, 512, true],
    ] as [number, number, number, boolean?][]) {
      const dy = sparse ? sparsePixels(m * k, rand) : randomArray(m * k, rand);
      const w = randomArray(k * n, rand);
      const act = randomArray(m * n, rand);
      if (act.length > 2) act[1] = 0; // a zero output gates like a negative one
      for (const slope of [0.01, 0]) {
        const expected = new Float32Array(m * n);
        linearGradInputRef(m, n, k, dy, w, act, expected, slope);
        const actual = new Float32Array(m * n).fill(NaN);
        kernels.linearGradInput(m, n, k, dy, w, act, actual, slope);
        expectClose(actual, expected, gemmTolerance(k), `linearGradInput ${m}x${n}x${k} slope=${slope}`);
      }
    }
  });

  it('should match the reference where zero inputs are skipped: linear (NT), linearT (NN), the weight gradient (TN)', () => {
    const kernels = make();
    const rand = seeded(53);
    // Rows of images (runs of zeros), blocks and panels cut short (m, n not multiples of 4 or 8), the layer-1
    // shapes of a batch of 16 and of 128, and inputs all zero, one nonzero column, or dense.
    const shapes: [number, number, number][] = [
      [9, 13, 37],
      [13, 40, 100],
      [16, 64, 784],
      [30, 17, 56],
      [128, 96, 784],
    ];
    for (const [m, n, k] of shapes) {
      for (const input of ['sparse pixels', 'all zero', 'one column', 'dense'] as const) {
        const x =
          input === 'sparse pixels'
            ? sparsePixels(m * k, rand)
            : input === 'dense'
              ? randomArray(m * k, rand)
              : new Float32Array(m * k);
        if (input === 'one column') for (let i = 0; i < m; i += 3) x[i * k + (k >> 1)] = 0.5;
        const w = randomArray(n * k, rand);
        const bias = randomArray(n, rand);
        const label = `${m}x${n}x${k} ${input}`;
        for (const slope of [undefined, 0.01]) {
          const expected = new Float32Array(m * n);
          linearRef(m, n, k, x, w, bias, expected, slope);
          const actual = new Float32Array(m * n).fill(NaN);
          kernels.linear(m, n, k, x, w, bias, actual, slope);
          expectClose(actual, expected, gemmTolerance(k) + 1e-6, `linear ${label} slope=${slope}`);
          // The same weights stored [k×n], as a predictor keeps them once it has served one image.
          const wt = new Float32Array(k * n);
          for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) wt[p * n + j] = w[j * k + p];
          const actualT = new Float32Array(m * n).fill(NaN);
          kernels.linearT(m, n, k, x, wt, bias, actualT, slope);
          expectClose(actualT, expected, gemmTolerance(k) + 1e-6, `linearT ${label} slope=${slope}`);
        }
        // The plain products over the same inputs, added with alpha into c (gemm: b [k×n]; gemmNT: b [n×k]).
        const cOld = randomArray(m * n, rand);
        for (const [name, ref, op, bT] of [
          ['gemm', gemmRef, 'gemm', false],
          ['gemmNT', gemmNTRef, 'gemmNT', true],
        ] as const) {
          const b = bT ? w : randomArray(k * n, rand);
          const expected = cOld.slice();
          ref(m, n, k, x, b, expected, true, -0.5);
          const actual = cOld.slice();
          kernels[op](m, n, k, x, b, actual, true, -0.5);
          expectClose(actual, expected, gemmTolerance(k) + 1e-6, `${name} ${label} accumulate alpha`);
        }
        // dw[n×k] = dyᵀ·x with dy [m×n]: written, and added as the fused SGD step w += −lr·dw.
        const dy = randomArray(m * n, rand);
        const c0 = randomArray(n * k, rand);
        for (const [accumulate, alpha] of [
          [false, 1],
          [true, -0.05],
        ] as const) {
          const expected = c0.slice();
          gemmTNRef(n, k, m, dy, x, expected, accumulate, alpha);
          const actual = c0.slice();
          kernels.gemmTN(n, k, m, dy, x, actual, accumulate, alpha);
          const tolerance = gemmTolerance(m) * Math.abs(alpha) + 1e-6;
          expectClose(actual, expected, tolerance, `gemmTN ${label} accumulate=${accumulate}`);
        }
      }
    }
  });

  it('should keep linear inputs from alloc intact, bias included', () => {
    const kernels = make();
    const rand = seeded(23);
    const [m, n, k] = [9, 21, 35];
    const x = randomArray(m * k, rand, kernels.alloc(m * k));
    const w = randomArray(n * k, rand, kernels.alloc(n * k));
    const bias = randomArray(n, rand, kernels.alloc(n));
    const y = kernels.alloc(m * n);
    const before = [x.slice(), w.slice(), bias.slice()];
    const expected = new Float32Array(m * n);
    linearRef(m, n, k, x, w, bias, expected, 0.1);
    kernels.linear(m, n, k, x, w, bias, y, 0.1);
    expectClose(y, expected, gemmTolerance(k), 'linear alloc');
    expect([x, w, bias].map((a) => Array.from(a))).toEqual(before.map((a) => Array.from(a)));
    for (const a of [x, w, bias, y]) kernels.free(a);
  });

  if (options.large) {
    it('should match the reference on the large shape 64x784x1024 in all three layouts', () => {
      const kernels = make();
      const rand = seeded(3);
      const [m, n, k] = [64, 1024, 784];
      for (const { op, ref, aLen, bLen } of GEMMS) {
        const a = randomArray(aLen(m, k), rand);
        const b = randomArray(bLen(n, k), rand);
        const expected = new Float32Array(m * n);
        ref(m, n, k, a, b, expected);
        const actual = new Float32Array(m * n);
        kernels[op](m, n, k, a, b, actual);
        expectClose(actual, expected, gemmTolerance(k), op);
      }
    });
  }

  it('should match the int8 reference within the activation quantization error', () => {
    const kernels = make();
    const rand = seeded(5);
    for (const [m, n, k] of [
      [1, 1, 1],
      [1, 10, 512],
      [3, 7, 13],
      [2, 16, 784],
      [5, 33, 100],
      [1, 5, 5000],
      [1, 333, 800], // large enough for the threaded split (≥ 256K weights), odd columns
      [3, 300, 900],
    ]) {
      for (const input of ['signed', 'sparse pixels'] as const) {
        const x = input === 'signed' ? randomArray(m * k, rand) : sparsePixels(m * k, rand);
        if (m > 1) x.fill(0, 0, k); // an all-zero row must give exactly the bias
        const q = Int8Array.from({ length: n * k }, () => Math.round(rand() * 127.5 - 0.5));
        const scale = Float32Array.from({ length: n }, () => 0.01 + Math.abs(rand()) * 0.01);
        const bias = randomArray(n, rand);
        const expected = new Float32Array(m * n);
        linearInt8Ref(m, n, k, x, q, scale, bias, expected);
        const label = `int8 ${m}x${n}x${k} ${input}`;
        const actual = new Float32Array(m * n).fill(NaN);
        kernels.linearInt8(m, n, k, x, q, scale, bias, actual);
        expectWithinInt8Bound(kernels, m, n, k, x, q, scale, expected, actual, label);
        if (m > 1) expect(Array.from(actual.subarray(0, n))).toEqual(Array.from(bias));
        // The row sums only spare the kernel work: the result must be the same bits.
        const withSums = new Float32Array(m * n).fill(NaN);
        kernels.linearInt8(m, n, k, x, q, scale, bias, withSums, int8RowSums(n, k, q));
        expect(Array.from(withSums), `${label} with row sums`).toEqual(Array.from(actual));
        // LeakyReLU as the result is stored: with 0 ≤ slope ≤ 1 it moves no result further from the reference.
        const leakyExpected = new Float32Array(m * n);
        linearInt8Ref(m, n, k, x, q, scale, bias, leakyExpected, undefined, 0.1);
        const leaky = new Float32Array(m * n).fill(NaN);
        kernels.linearInt8(m, n, k, x, q, scale, bias, leaky, int8RowSums(n, k, q), 0.1);
        expectWithinInt8Bound(kernels, m, n, k, x, q, scale, leakyExpected, leaky, `${label} leaky`);
        for (let i = 0; i < m * n; i++) {
          const want = actual[i] > 0 ? actual[i] : 0.1 * actual[i];
          expect(leaky[i], `${label} leaky at ${i}`).toBeCloseTo(want, 5);
        }
      }
    }
  });

  it('should give linearInt8 results, bit for bit, from the weights in input pairs (linearInt8T)', () => {
    const kernels = make();
    // A build without the fast path has neither method, and callers run linearInt8.
    expect(kernels.packInt8T === undefined).toBe(kernels.linearInt8T === undefined);
    if (!kernels.linearInt8T) return;
    const rand = seeded(6);
    for (const [m, n, k] of [
      [1, 1, 1],
      [1, 10, 513], // an odd number of inputs: the last pair is half padding
      [1, 37, 100], // outputs not a multiple of 16 or 4
      [1, 1024, 784], // the default first layer, split across threads when there are some
      [3, 64, 33],
      [9, 300, 900], // rows shared out across threads (4 at a time), the last share short
    ]) {
      for (const input of ['signed', 'sparse pixels'] as const) {
        const x = input === 'signed' ? randomArray(m * k, rand) : sparsePixels(m * k, rand);
        const q = Int8Array.from({ length: n * k }, () => Math.round(rand() * 127.5 - 0.5));
        const qt = int8PairRows(n, k, q);
        const packed = kernels.packInt8T!(n, k, q);
        expect(Array.from(packed), `packInt8T ${n}x${k}`).toEqual(Array.from(qt));
        kernels.free(packed);
        const rowSums = int8RowSums(n, k, q);
        const scale = Float32Array.from({ length: n }, () => 0.01 + Math.abs(rand()) * 0.01);
        const bias = randomArray(n, rand);
        for (const slope of [undefined, 0.1]) {
          const label = `int8T ${m}x${n}x${k} ${input} slope ${slope}`;
          const rows = new Float32Array(m * n).fill(NaN);
          kernels.linearInt8(m, n, k, x, q, scale, bias, rows, rowSums, slope);
          const pairs = new Float32Array(m * n).fill(NaN);
          kernels.linearInt8T(m, n, k, x, qt, scale, bias, pairs, rowSums, slope);
          expect(Array.from(pairs), label).toEqual(Array.from(rows));
          // And the layout itself against the reference that reads it directly.
          const expected = new Float32Array(m * n);
          linearInt8TRef(m, n, k, x, qt, scale, bias, expected, rowSums, slope);
          const direct = new Float32Array(m * n);
          linearInt8Ref(m, n, k, x, q, scale, bias, direct, undefined, slope);
          expectClose(expected, direct, 1e-5, `${label} reference layouts`);
        }
      }
    }
  });

  it('should lay out int8 weights in input pairs as int8PairRows does, around every block edge (packInt8T)', () => {
    const kernels = make();
    if (!kernels.packInt8T) return;
    const rand = seeded(8);
    // Blocks of 8 outputs × 8 pairs (16 inputs), 32 outputs at a time: shapes on and beside those edges.
    for (const n of [1, 7, 8, 9, 31, 32, 33, 40, 64]) {
      for (const k of [1, 2, 15, 16, 17, 18, 31, 32, 33, 47, 48, 784]) {
        const q = Int8Array.from({ length: n * k }, () => Math.round(rand() * 127.5 - 0.5));
        const packed = kernels.packInt8T(n, k, q);
        expect(Array.from(packed), `packInt8T ${n}x${k}`).toEqual(Array.from(int8PairRows(n, k, q)));
        kernels.free(packed);
      }
    }
    // Weights that come in a block of rows at a time (the last block short, or fewer than 8 rows), one row too
    // long for that, and weights already in kernel memory.
    for (const [n, k] of [
      [85, 784],
      [1024, 784],
      [85, 1000],
      [16, 9000],
    ]) {
      const q = Int8Array.from({ length: n * k }, () => Math.round(rand() * 127.5 - 0.5));
      const expected = Array.from(int8PairRows(n, k, q));
      const inMemory = kernels.allocInt8(n * k);
      inMemory.set(q);
      for (const [where, from] of [
        ['outside', q],
        ['in kernel memory', inMemory],
      ] as const) {
        const packed = kernels.packInt8T(n, k, from);
        expect(Array.from(packed), `packInt8T ${n}x${k} ${where}`).toEqual(expected);
        kernels.free(packed);
      }
      kernels.free(inMemory);
    }
  });

  it('should sum int8 weight rows exactly as int8RowSums does (rowSumsInt8, when the kernels have it)', () => {
    const kernels = make();
    if (!kernels.rowSumsInt8) return;
    const rand = seeded(91);
    for (const [n, k] of [
      [1, 1],
      [3, 15],
      [5, 16],
      [7, 33],
      [512, 1024],
      [1024, 784],
      [10, 512],
      [85, 784],
      [3, 70_000],
    ]) {
      const q = Int8Array.from({ length: n * k }, () => Math.round(rand() * 127));
      // Rows at the extremes too: all +127, all -127.
      if (n > 2) q.fill(127, 0, k).fill(-127, k, 2 * k);
      const sums = kernels.rowSumsInt8(n, k, q);
      expect(Array.from(sums), `${n}x${k}`).toEqual(Array.from(int8RowSums(n, k, q)));
      kernels.free(sums);
      // The same from weights in kernel memory (read in place, not a block of rows at a time).
      const inMemory = kernels.allocInt8(n * k);
      inMemory.set(q);
      const there = kernels.rowSumsInt8(n, k, inMemory);
      expect(Array.from(there), `${n}x${k} in kernel memory`).toEqual(Array.from(int8RowSums(n, k, q)));
      kernels.free(there);
      kernels.free(inMemory);
    }
  });

  it("should give the format's CRC-32 (crc32, in every wasm build) at any offset and length", () => {
    const kernels = make();
    expect(kernels.crc32 === undefined).toBe(kernels.name === 'ts');
    if (!kernels.crc32) return;
    const rand = seeded(32);
    const bytes = Uint8Array.from({ length: 300_000 }, () => Math.floor((rand() + 1) * 128));
    expect(kernels.crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    // Chunks of 64 KiB go through scratch: lengths around that, unaligned starts, and arrays in kernel memory.
    for (const [from, length] of [
      [0, 0],
      [0, 1],
      [1, 7],
      [3, 8],
      [5, 65_535],
      [0, 65_536],
      [2, 65_537],
      [7, 300_000 - 7],
      [0, 300_000],
    ]) {
      const view = bytes.subarray(from, from + length);
      expect(kernels.crc32(view), `${from}+${length}`).toBe(crc32(view));
      const inMemory = kernels.allocInt8(length + 3);
      const there = new Uint8Array(inMemory.buffer, inMemory.byteOffset + 3, length);
      there.set(view);
      expect(kernels.crc32(there), `${from}+${length} in kernel memory`).toBe(crc32(view));
      kernels.free(inMemory);
    }
  });

  it('should give NaN for a row holding NaN or Infinity in the int8 layer, as float math does', () => {
    const kernels = make();
    const [m, n, k] = [3, 5, 9];
    const x = randomArray(m * k, seeded(2));
    x[4] = NaN;
    x[k + 8] = Infinity;
    const q = new Int8Array(n * k).fill(1);
    const y = new Float32Array(m * n);
    kernels.linearInt8(m, n, k, x, q, new Float32Array(n).fill(1), new Float32Array(n), y);
    expect(Array.from(y.subarray(0, 2 * n)).every(Number.isNaN)).toBe(true);
    expect(Array.from(y.subarray(2 * n)).some(Number.isNaN)).toBe(false);
  });

  it('should not overflow the int32 accumulators when k is large and values are extreme', () => {
    const kernels = make();
    const [m, n, k] = [1, 4, 6000];
    const x = new Float32Array(k).fill(-1);
    const q = new Int8Array(n * k).fill(-128);
    const scale = new Float32Array(n).fill(1);
    const bias = new Float32Array(n);
    const y = new Float32Array(n);
    kernels.linearInt8(m, n, k, x, q, scale, bias, y);
    for (const v of y) expect(v).toBeCloseTo(128 * k, 0);
  });

  it('should apply SGD steps as the reference does, with and without momentum, L1 and L2', () => {
    const kernels = make();
    const rand = seeded(9);
    // 300,001: large enough to be split across threads, and not a multiple of the split's 8-element unit.
    for (const length of [1, 3, 4, 37, 1000, 300_001]) {
      for (const o of [
        { lr: 0.1, momentum: 0, l1: 0, l2: 0 },
        { lr: 0.05, momentum: 0.9, l1: 1e-3, l2: 1e-2 },
      ]) {
        const w0 = randomArray(length, rand);
        w0[0] = 0; // sign(0) = 0
        const g = randomArray(length, rand);
        const v0 = randomArray(length, rand);
        const [we, ve] = [w0.slice(), v0.slice()];
        const [wa, va] = [w0.slice(), v0.slice()];
        for (let step = 0; step < 3; step++) {
          sgdUpdateRef(we, g, o.momentum ? ve : null, o);
          kernels.sgdUpdate(wa, g, o.momentum ? va : null, o);
        }
        expectClose(wa, we, 1e-6, `sgd w n=${length} momentum=${o.momentum}`);
        expectClose(va, ve, 1e-6, `sgd v n=${length} momentum=${o.momentum}`);
      }
    }
    expect(() =>
      kernels.sgdUpdate(new Float32Array(4), new Float32Array(4), null, {
        lr: 1,
        momentum: 0.5,
        l1: 0,
        l2: 0,
      }),
    ).toThrow(/velocity/);
  });

  it('should apply Adam steps as the reference does, on arrays from alloc and not', () => {
    const kernels = make();
    const rand = seeded(13);
    for (const length of [1, 5, 64, 999]) {
      for (const fromAlloc of [false, true]) {
        const fresh = (source: Float32Array) => {
          if (!fromAlloc) return source.slice();
          const out = kernels.alloc(source.length);
          out.set(source);
          return out;
        };
        const w0 = randomArray(length, rand);
        const g = randomArray(length, rand);
        const [we, me, ve] = [w0.slice(), new Float32Array(length), new Float32Array(length)];
        const [wa, ma, va] = [fresh(w0), fresh(new Float32Array(length)), fresh(new Float32Array(length))];
        for (let t = 1; t <= 3; t++) {
          const o = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, t, l1: 1e-4, l2: 1e-3 };
          adamUpdateRef(we, g, me, ve, o);
          kernels.adamUpdate(wa, g, ma, va, o);
        }
        expectClose(wa, we, 1e-6, `adam w n=${length}`);
        expectClose(ma, me, 1e-6, `adam m n=${length}`);
        expectClose(va, ve, 1e-6, `adam v n=${length}`);
        if (fromAlloc) for (const x of [wa, ma, va]) kernels.free(x);
      }
    }
  });

  it('should hand out zero-filled arrays that survive later allocations and can be freed and reused', () => {
    const kernels = make();
    const first = kernels.alloc(1000);
    first.fill(7);
    const bytes = kernels.allocInt8(333);
    bytes.fill(-3);
    const many = Array.from({ length: 50 }, (_, i) => kernels.alloc(10_000 + i));
    // Still attached and intact: memory never grows, so views never detach.
    expect(first.length).toBe(1000);
    expect(first[999]).toBe(7);
    expect(bytes[332]).toBe(-3);
    for (const a of many) kernels.free(a);
    kernels.free(first);
    const again = kernels.alloc(1000);
    expect(again.every((v) => v === 0)).toBe(true);
    kernels.free(again);
    kernels.free(bytes);
  });

  it('should zero what earlier blocks and kernels wrote, in blocks over written and never-used memory', () => {
    const kernels = make();
    const rand = seeded(21);
    // Kernels write into blocks from alloc: a GEMM, the int8 pair layout and one int8 layer on it.
    const [m, n, k] = [5, 40, 36];
    const a = kernels.alloc(m * k);
    const b = kernels.alloc(k * n);
    const c = kernels.alloc(m * n);
    randomArray(a.length, rand, a);
    randomArray(b.length, rand, b);
    kernels.gemm(m, n, k, a, b, c);
    const q = kernels.allocInt8(n * k);
    for (let i = 0; i < q.length; i++) q[i] = Math.round(rand() * 127);
    const written = [a, b, c, q];
    if (kernels.packInt8T && kernels.linearInt8T) {
      const qt = kernels.packInt8T(n, k, q);
      const scale = kernels.alloc(n).fill(0.01);
      const bias = kernels.alloc(n).fill(0.5);
      const sums = int8RowSums(n, k, q, kernels.alloc(n));
      const y = kernels.alloc(m * n);
      kernels.linearInt8T(m, n, k, a, qt, scale, bias, y, sums, 0.1);
      written.push(qt, scale, bias, sums, y);
    }
    for (const x of written) if (x instanceof Float32Array) x.fill(-2);
    for (const x of written) kernels.free(x);
    // Over everything written and past it, floats then bytes; then a block above all of it.
    const floats = kernels.alloc(64 * 1024);
    expect(floats.every((v) => v === 0)).toBe(true);
    floats.fill(3);
    kernels.free(floats);
    const bytes = kernels.allocInt8(512 * 1024);
    expect(bytes.every((v) => v === 0)).toBe(true);
    const above = kernels.alloc(128 * 1024);
    expect(above.every((v) => v === 0)).toBe(true);
    kernels.free(bytes);
    kernels.free(above);
  });
}
