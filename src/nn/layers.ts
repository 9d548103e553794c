/**
 * @module
 * The network's layers as forward/backward pairs (dense, LeakyReLU, fused softmax cross-entropy).
 * Plain functions over typed arrays; the matrix products go through `Kernels`, the cheap element-wise work stays here.
 */
import type { Kernels } from '../kernels/kernels.ts';

/**
 * y = x·wᵀ + b, then LeakyReLU with `slope` when it is given (fused into the product's store).
 * x [batch×inDim], w [outDim×inDim], b [outDim] → y [batch×outDim]
 */
export function denseForward(
  k: Kernels,
  y: Float32Array,
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  batch: number,
  inDim: number,
  outDim: number,
  slope?: number,
): void {
  k.linear(batch, outDim, inDim, x, w, b, y, slope);
}

/**
 * dw = dyᵀ·x (when dw is given), db = Σ_rows dy, and (when dx is given) dx = dy·w. Gradients are overwritten, not accumulated:
 * zeroing the whole gradient buffer every step would cost as much memory traffic as the update itself.
 * dy [batch×outDim], x [batch×inDim], w [outDim×inDim] → dw [outDim×inDim], db [outDim], dx [batch×inDim]
 */
export function denseBackward(
  k: Kernels,
  dx: Float32Array | null,
  dw: Float32Array | null,
  db: Float32Array,
  dy: Float32Array,
  x: Float32Array,
  w: Float32Array,
  batch: number,
  inDim: number,
  outDim: number,
): void {
  if (dw) k.gemmTN(outDim, inDim, batch, dy, x, dw);
  db.fill(0);
  for (let i = 0; i < batch; i++) {
    const row = i * outDim;
    for (let j = 0; j < outDim; j++) db[j] += dy[row + j];
  }
  if (dx) k.gemm(batch, inDim, outDim, dy, w, dx);
}

/** a = z > 0 ? z : alpha·z, in place allowed (a may be z). alpha = 0 is ReLU. */
export function leakyReluForward(a: Float32Array, z: Float32Array, n: number, alpha: number): void {
  for (let i = 0; i < n; i++) {
    const v = z[i];
    a[i] = v > 0 ? v : alpha * v;
  }
}

/**
 * dz = da ⊙ (a > 0 ? 1 : alpha), in place allowed (dz may be da).
 * Uses the activation's output: for alpha ≥ 0 its sign is the sign of the input, so z need not be kept.
 */
export function leakyReluBackward(
  dz: Float32Array,
  da: Float32Array,
  a: Float32Array,
  n: number,
  alpha: number,
): void {
  for (let i = 0; i < n; i++) dz[i] = a[i] > 0 ? da[i] : alpha * da[i];
}

/** Row-wise softmax, numerically stable. logits [batch×classes] → probs [batch×classes] (may alias). */
export function softmax(probs: Float32Array, logits: Float32Array, batch: number, classes: number): void {
  for (let i = 0; i < batch; i++) {
    const row = i * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j++) max = Math.max(max, logits[row + j]);
    let sum = 0;
    for (let j = 0; j < classes; j++) {
      const e = Math.exp(logits[row + j] - max);
      probs[row + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < classes; j++) probs[row + j] *= inv;
  }
}

/**
 * The label of a row whose target is the uniform distribution (outlier exposure: an image of no class). Such a
 * row adds the cross-entropy to uniform, log Σexp(z) − mean(z), with gradient (softmax − 1/classes) / batch,
 * and never counts as correct.
 */
export const UNIFORM_TARGET = 255;

/**
 * Fused softmax + cross-entropy over a batch: returns the mean loss and the number of correct argmax predictions,
 * and writes dlogits = (softmax(logits) - onehot(labels)) / batch, the gradient of the mean loss.
 * A label of `UNIFORM_TARGET` takes the uniform distribution as its target instead of one class.
 * logits [batch×classes], labels [batch] → dlogits [batch×classes] (may alias logits)
 */
export function softmaxCrossEntropy(
  dlogits: Float32Array,
  logits: Float32Array,
  labels: ArrayLike<number>,
  batch: number,
  classes: number,
): { loss: number; correct: number } {
  let loss = 0;
  let correct = 0;
  const invBatch = 1 / batch;
  for (let i = 0; i < batch; i++) {
    const row = i * classes;
    const label = labels[i];
    let max = -Infinity;
    let arg = 0;
    for (let j = 0; j < classes; j++) {
      const v = logits[row + j];
      if (v > max) {
        max = v;
        arg = j;
      }
    }
    if (arg === label) correct++;
    let sum = 0;
    let mean = 0;
    for (let j = 0; j < classes; j++) {
      sum += Math.exp(logits[row + j] - max);
      mean += logits[row + j] - max;
    }
    const logSum = Math.log(sum);
    const uniform = label === UNIFORM_TARGET;
    loss += logSum - (uniform ? mean / classes : logits[row + label] - max);
    for (let j = 0; j < classes; j++) {
      const p = Math.exp(logits[row + j] - max - logSum);
      dlogits[row + j] = (p - (uniform ? 1 / classes : j === label ? 1 : 0)) * invBatch;
    }
  }
  return { loss: loss * invBatch, correct };
}
