import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, type ModelData } from '../../src/format/index.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createWasmKernels } from '../../src/kernels/wasm-kernels.ts';
import { createPredictor, Mlp } from '../../src/nn/index.ts';
import { compileBuild } from '../../scripts/lib/kernels-node.ts';

const SIZES = [100, 48, 24, 10];
const ALPHA = 0.05;

/** An int8 model blob's decoded data: quantized weights plus their dequantized float params. */
function int8Model(): ModelData {
  const net = Mlp.create({ sizes: SIZES, alpha: ALPHA }, createTsKernels(), { scheme: 'he', seed: 7 });
  const bytes = encodeModel({
    sizes: SIZES,
    alpha: ALPHA,
    encoding: 'int8',
    params: new Float32Array(net.params),
    metadata: { dataset: 'mnist', createdAt: new Date(0).toISOString() },
  });
  net.dispose();
  return decodeModel(bytes);
}

/** Pixel-like rows in [0, 1]: half of them with long blank runs (as an image's margins), half dense. */
function images(batch: number): Float32Array {
  const x = new Float32Array(batch * SIZES[0]);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const row = Math.floor(i / SIZES[0]);
    const blank = row % 2 === 0 && i % SIZES[0] < 60;
    x[i] = blank ? 0 : s / 2 ** 32;
  }
  return x;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('createPredictor', () => {
  const model = int8Model();
  const batch = 9;
  const x = images(batch);

  it('should give the float network’s probabilities from int8 weights on the TypeScript kernels', () => {
    const kernels = createTsKernels();
    const float = Mlp.fromParams({ sizes: SIZES, alpha: ALPHA }, kernels, model.params);
    const int8 = createPredictor(model, kernels);
    expect(maxDiff(int8.predict(x, batch), float.predict(x, batch))).toBeLessThan(1e-5);
  });

  for (const build of ['relaxed', 'plain'] as const) {
    it(`should stay close to the exact int8 result on the ${build} SIMD build, one image or a batch`, () => {
      const wasm = createWasmKernels(compileBuild('plain', build === 'relaxed'), { capacityBytes: 4 << 20 });
      expect(wasm.name.includes('relaxed')).toBe(build === 'relaxed');
      const exact = createPredictor(model, createTsKernels()).predict(x, batch);
      const predictor = createPredictor(model, wasm);
      const batched = predictor.predict(x, batch);
      // 6-bit activations (relaxed) move each probability by ~0.005 here, int16 ones by ~1e-5; dropping the
      // hidden layers' LeakyReLU moves them by 0.024 (relaxed) and 0.58 (TypeScript).
      expect(maxDiff(batched, exact)).toBeLessThan(build === 'relaxed' ? 0.01 : 1e-4);
      for (let i = 0; i < batch; i++) {
        const one = predictor.predict(x.subarray(i * SIZES[0], (i + 1) * SIZES[0]), 1);
        expect(Array.from(one)).toEqual(Array.from(batched.subarray(i * 10, (i + 1) * 10)));
      }
      predictor.dispose();
      expect(wasm.usedBytes()).toBe(0);
    });
  }
});
