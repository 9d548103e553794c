import { describe, expect, it } from 'vitest';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import {
  createNormal,
  createRng,
  denseBackward,
  denseForward,
  accuracy,
  argmax,
  countCorrect,
  predictedClasses,
  softmax,
  softmaxCrossEntropy,
} from '../../src/nn/index.ts';

const k = createTsKernels();

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const normal = createNormal(createRng(seed));
  return Float32Array.from({ length: n }, () => normal() * scale);
}

/** Central difference of f with respect to each entry of `a`, perturbing in place. */
function numericGrad(a: Float32Array, f: () => number, eps: number): Float64Array {
  const g = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const old = a[i];
    a[i] = old + eps;
    const up = f();
    a[i] = old - eps;
    const down = f();
    a[i] = old;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    worst = Math.max(worst, err);
  }
  expect(worst).toBeLessThan(tol);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('denseForward', () => {
  it('should compute x·wᵀ + b as worked out by hand', () => {
    // x = [[1, 2], [3, 4]], w = [[1, 0], [0.5, -1], [2, 1]] (3 outputs × 2 inputs), b = [0.1, 0.2, 0.3]
    const x = new Float32Array([1, 2, 3, 4]);
    const w = new Float32Array([1, 0, 0.5, -1, 2, 1]);
    const b = new Float32Array([0.1, 0.2, 0.3]);
    const y = new Float32Array(6);
    denseForward(k, y, x, w, b, 2, 2, 3);
    expectClose(y, [1.1, -1.3, 4.3, 3.1, -2.3, 10.3], 1e-6);
  });
});

/** LeakyReLU(z) with `slope`, as the kernels store a hidden layer's output. */
const leaky = (z: Float32Array, slope: number) => z.map((v) => (v > 0 ? v : slope * v));

describe('denseBackward', () => {
  it('should match central differences for dw, db and dx through the LeakyReLU that made x', () => {
    const [batch, inDim, outDim, slope] = [3, 5, 4, 0.1];
    // Away from the kink, where the difference quotient is the derivative.
    const z = randomArray(batch * inDim, 1).map((v) => (Math.abs(v) < 0.1 ? v + 0.3 : v));
    const w = randomArray(outDim * inDim, 2);
    const b = randomArray(outDim, 3);
    const r = randomArray(batch * outDim, 4); // loss = Σ y ⊙ r, so dy = r
    const y = new Float32Array(batch * outDim);
    const loss = () => {
      denseForward(k, y, leaky(z, slope), w, b, batch, inDim, outDim);
      return dot(y, r);
    };
    const dw = new Float32Array(w.length).fill(99); // overwritten, not accumulated
    const db = new Float32Array(b.length).fill(99);
    const dz = new Float32Array(z.length);
    denseBackward(k, dz, db, { into: dw }, r, leaky(z, slope), w, batch, inDim, outDim, slope);
    expectClose(dw, numericGrad(w, loss, 1e-2), 1e-3);
    expectClose(db, numericGrad(b, loss, 1e-2), 1e-3);
    expectClose(dz, numericGrad(z, loss, 1e-2), 1e-3);
    // db as the product onesᵀ·dy (what the trainer passes), more ones than rows: the same sums.
    const dbOnes = new Float32Array(b.length).fill(99);
    const ones = new Float32Array(batch + 2).fill(1);
    denseBackward(k, null, dbOnes, { into: dw }, r, leaky(z, slope), w, batch, inDim, outDim, slope, ones);
    expectClose(dbOnes, db, 1e-6);
  });

  it('should apply w −= lr·dw in place of storing dw, after computing dx from the old weights', () => {
    const [batch, inDim, outDim, slope, lr] = [4, 6, 3, 0.01, 0.5];
    const x = leaky(randomArray(batch * inDim, 5), slope);
    const w = randomArray(outDim * inDim, 6);
    const dy = randomArray(batch * outDim, 7);
    const [dwStored, dxStored] = [new Float32Array(w.length), new Float32Array(x.length)];
    denseBackward(
      k,
      dxStored,
      new Float32Array(outDim),
      { into: dwStored },
      dy,
      x,
      w,
      batch,
      inDim,
      outDim,
      slope,
    );
    const stepped = w.slice();
    const dx = new Float32Array(x.length);
    denseBackward(k, dx, new Float32Array(outDim), { step: lr }, dy, x, stepped, batch, inDim, outDim, slope);
    expectClose(
      stepped,
      w.map((v, i) => v - lr * dwStored[i]),
      1e-6,
    );
    expectClose(dx, dxStored, 1e-6);
  });
});

describe('argmax and accuracy', () => {
  it('should pick the first largest value of a row, NaN never being larger', () => {
    expect(argmax([0.1, 0.7, 0.7, 0.2])).toBe(1);
    expect(argmax([5, 1, 9, 9, 2], 1, 3)).toBe(1); // the row [1, 9, 9]
    expect(argmax([NaN, 3, 2])).toBe(0);
    expect(argmax([1, NaN, 2])).toBe(2);
  });

  it('should count the rows whose argmax is their label', () => {
    const probs = new Float32Array([0.9, 0.1, 0, 0.2, 0.3, 0.5, 0.3, 0.4, 0.3]);
    expect(Array.from(predictedClasses(probs, 3, 3))).toEqual([0, 2, 1]);
    expect(countCorrect(probs, [0, 1, 1], 3, 3)).toBe(2);
    expect(accuracy(probs, [0, 1, 1], 3, 3)).toBeCloseTo(2 / 3, 12);
    expect(accuracy(probs, [], 0, 3)).toBe(0);
  });
});

describe('softmaxCrossEntropy', () => {
  it('should give log(classes) loss and p - onehot gradients for equal logits', () => {
    const d = new Float32Array(4);
    const r = softmaxCrossEntropy(d, new Float32Array(4), [2], 1, 4);
    expect(r.loss).toBeCloseTo(Math.log(4), 6);
    expectClose(d, [0.25, 0.25, -0.75, 0.25], 1e-6);
  });

  it('should count correct argmax predictions and stay finite for huge logits', () => {
    const d = new Float32Array(6);
    const r = softmaxCrossEntropy(d, new Float32Array([1000, 0, -1000, 0, 5, 1]), [0, 2], 2, 3);
    expect(r.correct).toBe(1);
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.loss).toBeCloseTo((0 + (5 - 1 + Math.log(1 + Math.exp(-5) + Math.exp(-4)))) / 2, 4);
  });

  it('should match central differences of the mean loss', () => {
    const [batch, classes] = [4, 10];
    const logits = randomArray(batch * classes, 7, 2);
    const labels = [3, 0, 9, 3];
    const scratch = new Float32Array(batch * classes);
    const loss = () => softmaxCrossEntropy(scratch, logits, labels, batch, classes).loss;
    const d = new Float32Array(batch * classes);
    softmaxCrossEntropy(d, logits, labels, batch, classes);
    expectClose(d, numericGrad(logits, loss, 1e-3), 2e-3);
  });

  it('should agree with softmax for its probabilities', () => {
    const logits = new Float32Array([0.5, -1, 2]);
    const p = new Float32Array(3);
    softmax(p, logits, 1, 3);
    const d = new Float32Array(3);
    softmaxCrossEntropy(d, logits, [1], 1, 3);
    expectClose(d, [p[0], p[1] - 1, p[2]], 1e-6);
    expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
  });
});
