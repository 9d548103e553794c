import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gemmNTRef, gemmRef, gemmTNRef } from '../../src/kernels/ts-kernels.ts';
import { createWasmKernels, type WasmKernels } from '../../src/kernels/wasm-kernels.ts';
import { compileBuild, loadKernels, readBuild, type LoadedKernels } from '../../scripts/lib/kernels-node.ts';
import { kernelConformance, randomArray, seeded } from './kernel-checks.ts';

const MiB = 1024 * 1024;

describe('createWasmKernels (plain SIMD build)', () => {
  const module = compileBuild('plain', false);
  kernelConformance(() => createWasmKernels(module, { capacityBytes: 32 * MiB }), { large: true });

  it('should name the build it runs', () => {
    expect(createWasmKernels(module, { capacityBytes: MiB }).name).toBe('wasm-simd');
  });

  it('should return freed blocks so that the whole capacity can be allocated again', () => {
    const kernels = createWasmKernels(module, { capacityBytes: 4 * MiB });
    const blocks = Array.from({ length: 60 }, () => kernels.alloc(16_000));
    expect(kernels.usedBytes()).toBeGreaterThan(60 * 64_000 - 1);
    // Free in an interleaved order so that coalescing must merge on both sides.
    for (let i = 0; i < blocks.length; i += 2) kernels.free(blocks[i]);
    for (let i = 1; i < blocks.length; i += 2) kernels.free(blocks[i]);
    expect(kernels.usedBytes()).toBe(0);
    const length = Math.floor((3.9 * MiB) / 4);
    const big = kernels.alloc(length);
    expect(big.length).toBe(length);
    kernels.free(big);
  });

  it('should throw a clear error when the capacity is exceeded, and stay usable', () => {
    const kernels = createWasmKernels(module, { capacityBytes: 2 * MiB });
    const kept = kernels.alloc(1000);
    expect(() => kernels.alloc(MiB)).toThrow(/out of memory.*raise capacityBytes/);
    // Scratch for a GEMM whose operands do not fit either.
    const big = new Float32Array(600 * 600);
    expect(() => kernels.gemm(600, 600, 600, big, big, big)).toThrow(RangeError);
    expect(kernels.usedBytes()).toBe(64 * Math.ceil(4000 / 64));
    const a = randomArray(12, seeded(1));
    const c = new Float32Array(9);
    kernels.gemm(3, 3, 4, a, a, c);
    const expected = new Float32Array(9);
    gemmRef(3, 3, 4, a, a, expected);
    for (let i = 0; i < 9; i++) expect(c[i]).toBeCloseTo(expected[i], 5);
    kernels.free(kept);
  });

  it('should keep scratch of earlier calls out of usedBytes, and give it back when an allocation needs it', () => {
    const kernels = createWasmKernels(module, { capacityBytes: 4 * MiB });
    const [m, n, k] = [128, 64, 700];
    // Operands from outside kernel memory and a packed product: ~1.5 MB of scratch from the heap per call.
    const a = randomArray(m * k, seeded(5));
    const b = randomArray(n * k, seeded(6));
    const c = new Float32Array(m * n);
    kernels.gemmNT(m, n, k, a, b, c);
    kernels.gemmNT(m, n, k, a, b, c);
    expect(kernels.usedBytes()).toBe(0);
    // Only fits once the spare scratch is back in the heap.
    const big = kernels.alloc(Math.floor((3.8 * MiB) / 4));
    expect(kernels.usedBytes()).toBeGreaterThan(3.7 * MiB);
    kernels.free(big);
    const expected = new Float32Array(m * n);
    gemmNTRef(m, n, k, a, b, expected);
    kernels.gemmNT(m, n, k, a, b, c);
    for (let i = 0; i < m * n; i++) expect(c[i]).toBeCloseTo(expected[i], 4);
  });

  it('should refuse to free arrays it did not allocate, or twice', () => {
    const kernels = createWasmKernels(module, { capacityBytes: MiB });
    expect(() => kernels.free(new Float32Array(4))).toThrow(/not from alloc/);
    const a = kernels.alloc(8);
    expect(() => kernels.free(a.subarray(1))).toThrow(/not allocated/);
    kernels.free(a);
    expect(() => kernels.free(a)).toThrow(/not allocated/);
  });

  it('should reject operands shorter than the shape says', () => {
    const kernels = createWasmKernels(module, { capacityBytes: MiB });
    const a = new Float32Array(6);
    expect(() => kernels.gemmNT(2, 2, 4, a, new Float32Array(8), new Float32Array(4))).toThrow(
      /a has 6 elements/,
    );
    expect(() => kernels.gemm(2, 2, -1, a, a, a)).toThrow(/k must be a non-negative integer/);
  });

  it('should reject lengths that are not non-negative integers', () => {
    const kernels = createWasmKernels(module, { capacityBytes: MiB });
    expect(() => kernels.alloc(2.5)).toThrow(RangeError);
    expect(() => kernels.allocInt8(-1)).toThrow(RangeError);
  });

  it('should reject a capacity outside 1 MiB to 2 GiB', () => {
    expect(() => createWasmKernels(module, { capacityBytes: 1000 })).toThrow(/capacityBytes/);
  });
});

describe.runIf(canUseRelaxed())(
  'createWasmKernels (relaxed SIMD build, where this Node validates it)',
  () => {
    const module = compileBuild('plain', true);
    kernelConformance(() => createWasmKernels(module, { capacityBytes: 32 * MiB }));
  },
);

function canUseRelaxed(): boolean {
  try {
    return createWasmKernels(compileBuild('plain', true), { capacityBytes: MiB }).name.includes('relaxed');
  } catch {
    return false;
  }
}

describe('loadKernels', () => {
  let threaded: LoadedKernels;
  beforeAll(async () => {
    threaded = await loadKernels({ backend: 'wasm', threads: 2, capacityBytes: 64 * MiB });
  });
  afterAll(async () => {
    await threaded.dispose();
  });

  it('should say how to build the WebAssembly when a build is missing', () => {
    expect(() => readBuild('kernels-nonexistent.wasm')).toThrow(
      /kernels-nonexistent\.wasm is missing; run npm run build:wasm/,
    );
  });

  it('should give the TypeScript reference for backend ts', async () => {
    const kernels = await loadKernels({ backend: 'ts' });
    expect(kernels.name).toBe('ts');
  });

  it('should give single-threaded wasm kernels for threads 1', async () => {
    const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
    expect(kernels.name).toMatch(/^wasm-simd(-relaxed)?$/);
    await kernels.dispose();
  });

  it('should split large GEMMs across two threads and match the reference', () => {
    expect(threaded.name).toMatch(/-x2$/);
    const rand = seeded(21);
    // n = 1003 leaves a partial panel at the end of the second thread's range.
    const [m, n, k] = [70, 1003, 257];
    const cases = [
      { op: 'gemm', ref: gemmRef, a: m * k, b: k * n },
      { op: 'gemmTN', ref: gemmTNRef, a: k * m, b: k * n },
      { op: 'gemmNT', ref: gemmNTRef, a: m * k, b: n * k },
    ] as const;
    for (const { op, ref, a: aLen, b: bLen } of cases) {
      const a = threaded.alloc(aLen);
      const b = threaded.alloc(bLen);
      randomArray(aLen, rand, a);
      randomArray(bLen, rand, b);
      for (const accumulate of [false, true]) {
        const c = randomArray(m * n, rand);
        const expected = c.slice();
        ref(m, n, k, a, b, expected, accumulate);
        threaded[op](m, n, k, a, b, c, accumulate);
        let worst = 0;
        for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i] - expected[i]));
        expect(worst, `${op} accumulate=${accumulate}`).toBeLessThan(1e-6 * (k + 1));
      }
      threaded.free(a);
      threaded.free(b);
    }
  });

  it('should cover every column once where the shares narrow to the tail, accumulating, in all layouts', () => {
    const rand = seeded(29);
    const [m, k] = [64, 260];
    // Widths around the tail of 64 columns in 8-column shares after whole 32-column ones (and not multiples).
    for (const n of [8, 63, 64, 65, 96, 97, 100, 129, 520]) {
      const cases = [
        { op: 'gemm', ref: gemmRef, a: m * k, b: k * n },
        { op: 'gemmTN', ref: gemmTNRef, a: k * m, b: k * n },
        { op: 'gemmNT', ref: gemmNTRef, a: m * k, b: n * k },
      ] as const;
      for (const { op, ref, a: aLen, b: bLen } of cases) {
        const a = randomArray(aLen, rand);
        const b = randomArray(bLen, rand);
        const c = randomArray(m * n, rand);
        const expected = c.slice();
        ref(m, n, k, a, b, expected, true, -0.5);
        threaded[op](m, n, k, a, b, c, true, -0.5);
        let worst = 0;
        for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i] - expected[i]));
        expect(worst, `${op} ${m}x${n}x${k}`).toBeLessThan(1e-6 * (k + 1));
      }
    }
  });

  describe('with two threads', () => {
    kernelConformance(() => threaded as WasmKernels & LoadedKernels);
  });
});
