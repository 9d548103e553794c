import { describe, expect, it } from 'vitest';
import { createWasmKernels } from '../../src/kernels/wasm-kernels.ts';
import relaxedModule from '../../build/kernels-relaxed.wasm';
import simdModule from '../../build/kernels-simd.wasm';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createPredictor, Mlp } from '../../src/nn/index.ts';
import { randomModelData } from '../../scripts/lib/bench-ours.ts';
import { kernelConformance, seeded } from './kernel-checks.ts';

const MiB = 1024 * 1024;

describe('createWasmKernels in workerd (relaxed SIMD build)', () => {
  it('should instantiate the build-time import and run relaxed SIMD', () => {
    expect(relaxedModule).toBeInstanceOf(WebAssembly.Module);
    expect(createWasmKernels(relaxedModule, { capacityBytes: MiB }).name).toBe('wasm-simd-relaxed');
  });
  kernelConformance(() => createWasmKernels(relaxedModule, { capacityBytes: 16 * MiB }), { large: true });
});

describe('createWasmKernels in workerd (plain SIMD build)', () => {
  kernelConformance(() => createWasmKernels(simdModule, { capacityBytes: 16 * MiB }));
});

describe('createPredictor in workerd (relaxed SIMD build): one float32 image, split second layer or direct', () => {
  it('should give the TypeScript reference network’s probabilities', () => {
    // Layers of 96 and 64 outputs: re-laid [in×out] by the first single image, so sparse images take the split
    // second layer once it is made (the first two images make it; fewer than 48 of 100 inputs nonzero), dense
    // ones the direct product.
    const sizes = [100, 96, 64, 10];
    const model = randomModelData(sizes, 0.05, 'f32', createTsKernels(), 7);
    const rand = seeded(61);
    const rows = 6;
    const x = new Float32Array(rows * sizes[0]);
    for (let i = 0; i < x.length; i++) x[i] = Math.floor(i / sizes[0]) % 2 === 0 && i % 100 < 70 ? 0 : rand();
    const expected = Mlp.fromParams({ sizes, alpha: 0.05 }, createTsKernels(), model.params).predict(x, rows);
    const predictor = createPredictor(model, createWasmKernels(relaxedModule, { capacityBytes: 4 * MiB }));
    for (let i = 0; i < rows; i++) {
      const one = predictor.predict(x.subarray(i * sizes[0], (i + 1) * sizes[0]), 1);
      for (let j = 0; j < 10; j++) expect(Math.abs(one[j] - expected[i * 10 + j])).toBeLessThan(1e-6);
    }
  });
});
