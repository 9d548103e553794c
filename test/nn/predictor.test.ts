import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, type ModelData } from '../../src/format/index.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createWasmKernels } from '../../src/kernels/wasm-kernels.ts';
import { createPredictor, Mlp, Workspace } from '../../src/nn/index.ts';
import { randomModelData } from '../../scripts/lib/bench-ours.ts';
import { compileBuild } from '../../scripts/lib/kernels-node.ts';

const SIZES = [100, 48, 24, 10];
const ALPHA = 0.05;

/** A model blob's decoded data; int8: quantized weights plus their dequantized float params. */
function decodedModel(encoding: 'int8' | 'f32' = 'int8', sizes = SIZES): ModelData {
  return randomModelData(sizes, ALPHA, encoding, createTsKernels(), 7);
}

/** Pixel-like rows in [0, 1]: half of them with long blank runs (as an image's margins), half dense. */
function images(batch: number, d = SIZES[0]): Float32Array {
  const x = new Float32Array(batch * d);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const row = Math.floor(i / d);
    const blank = row % 2 === 0 && i % d < 60;
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
  const model = decodedModel();
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

  it('should give the float network’s probabilities from f32 weights, one image or a batch, in either layout', () => {
    // Layers of 96 and 64 outputs: wide enough to be re-laid [in×out] by the first single image.
    const sizes = [100, 96, 64, 10];
    const f32 = decodedModel('f32', sizes);
    const xs = images(batch, sizes[0]);
    for (const build of ['relaxed', 'plain'] as const) {
      const wasm = createWasmKernels(compileBuild('plain', build === 'relaxed'), { capacityBytes: 4 << 20 });
      const expected = Mlp.fromParams({ sizes, alpha: ALPHA }, createTsKernels(), f32.params).predict(
        xs,
        batch,
      );
      const predictor = createPredictor(f32, wasm);
      const before = predictor.predict(xs, batch);
      expect(maxDiff(before, expected), `${build} batch, trained layout`).toBeLessThan(1e-6);
      for (let i = 0; i < batch; i++) {
        const one = predictor.predict(xs.subarray(i * sizes[0], (i + 1) * sizes[0]), 1);
        expect(maxDiff(one, expected.subarray(i * 10, (i + 1) * 10)), `${build} image ${i}`).toBeLessThan(
          1e-6,
        );
      }
      expect(maxDiff(predictor.predict(xs, batch), expected), `${build} batch, re-laid`).toBeLessThan(1e-6);
      predictor.dispose();
      expect(wasm.usedBytes()).toBe(0);
    }
  });

  it('should give the same probabilities in batches larger than its first chunk (grown, then chunked)', () => {
    const sizes = [100, 96, 64, 10];
    const f32 = decodedModel('f32', sizes);
    // 1,100 rows: past the 256 rows allocated up front and past the 1,024 they grow to.
    const rows = 1100;
    const xs = images(rows, sizes[0]);
    const expected = Mlp.fromParams({ sizes, alpha: ALPHA }, createTsKernels(), f32.params).predict(xs, rows);
    const wasm = createWasmKernels(compileBuild('plain', true), { capacityBytes: 8 << 20 });
    const predictor = createPredictor(f32, wasm);
    expect(
      maxDiff(predictor.predict(xs.subarray(0, 9 * sizes[0]), 9), expected.subarray(0, 90)),
    ).toBeLessThan(1e-6);
    expect(maxDiff(predictor.predict(xs, rows), expected), 'grown').toBeLessThan(1e-6);
    expect(
      maxDiff(predictor.predict(xs.subarray(0, 9 * sizes[0]), 9), expected.subarray(0, 90)),
    ).toBeLessThan(1e-6);
    predictor.dispose();
    // int8: rows are quantized one by one, so the grown chunks give the same bits as batches of 220 (not grown).
    const int8 = createPredictor(decodedModel('int8', sizes), wasm);
    const pieces = new Float32Array(rows * 10);
    for (let r = 0; r < rows; r += 220) {
      pieces.set(int8.predict(xs.subarray(r * sizes[0], (r + 220) * sizes[0]), 220), r * 10);
    }
    expect(Array.from(int8.predict(xs, rows))).toEqual(Array.from(pieces));
    int8.dispose();
    expect(wasm.usedBytes()).toBe(0);
  });

  it('should copy the last hidden layer’s activations into `features`, across chunks, probabilities unchanged', () => {
    const kernels = createTsKernels();
    // 70 rows: more than one chunk of the int8 predictor (64), so the copy's offsets are exercised.
    const rows = 70;
    const xs = images(rows);
    for (const encoding of ['int8', 'f32'] as const) {
      const data = decodedModel(encoding);
      const float = Mlp.fromParams({ sizes: SIZES, alpha: ALPHA }, kernels, data.params);
      const ws = new Workspace(kernels, SIZES, rows);
      float.forward(ws, xs, rows);
      const hidden = ws.acts[SIZES.length - 2].slice(0, rows * SIZES[2]);
      expect(hidden.some((v) => v < 0)).toBe(true); // after the LeakyReLU, its negative slope kept
      const predictor = createPredictor(data, kernels);
      const features = new Float32Array(rows * SIZES[2]).fill(NaN);
      const probs = predictor.predict(xs, rows, features);
      expect(maxDiff(features, hidden)).toBeLessThan(1e-4);
      expect(maxDiff(probs, predictor.predict(xs, rows))).toBe(0);
      predictor.dispose();
      float.dispose();
      ws.dispose();
    }
  });
});

describe('an int8 predictor from a decoded blob', () => {
  it('should not read the float copy of the weights (made only when read), and predict as from it', () => {
    const blob = encodeModel(decodedModel());
    const eager = decodedModel();
    const lazy = decodeModel(blob);
    Object.defineProperty(lazy, 'params', {
      get: () => {
        throw new Error('params was read');
      },
    });
    const kernels = createTsKernels();
    const x = images(5);
    const fromLazy = createPredictor(lazy, kernels).predict(x, 5);
    expect(Array.from(fromLazy)).toEqual(Array.from(createPredictor(eager, kernels).predict(x, 5)));
  });

  it('should dequantize `params` on first read: each weight q·scale, the biases as stored', () => {
    const model = decodedModel();
    const decoded = decodeModel(encodeModel(model));
    expect(Array.from(decoded.params)).toEqual(Array.from(model.params));
    expect(decoded.params).toBe(decoded.params); // made once
  });
});
