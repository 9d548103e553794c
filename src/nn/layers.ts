/**
 * @module
 * The network's layers as the trainer calls them: the dense forward/backward pair (LeakyReLU fused into the
 * kernels' products) and softmax with its fused cross-entropy. Plain functions over typed arrays; the matrix
 * products go through `Kernels`, the cheap element-wise work stays here.
 */
import type { Kernels } from '../kernels/kernels.ts';
import { argmax } from './classify.ts';

/**
 * A dense layer's forward: y = x·wᵀ + b, then LeakyReLU with `slope` when it is given (fused into the product's
 * store). x [batch×inDim], w [outDim×inDim], b [outDim] → y [batch×outDim]
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

/** Where `denseBackward` puts the weight gradient dw = dyᵀ·x. */
export type WeightGradient =
  /** Written into this [outDim×inDim] array. */
  | { into: Float32Array }
  /** Applied to w straight from the product, w += −lr·dw (plain SGD's step), and never stored. */
  | { step: number };

/**
 * A dense layer's backward, fused as the kernels allow, gradients overwritten (not accumulated):
 * - dx = (dy·w) ⊙ LeakyReLU′, through the LeakyReLU (slope `slope`) whose output `x` is, when dx is given;
 *   computed first, from the weights before any step;
 * - db = Σ_rows dy (as the product onesᵀ·dy when `ones`, ≥ batch ones from `k.alloc`, is given: ~10x faster
 *   than the loop here for 128×1024);
 * - dw = dyᵀ·x, written out or applied to w as `dw` says.
 * dy [batch×outDim], x [batch×inDim], w [outDim×inDim] → dx [batch×inDim], db [outDim], dw [outDim×inDim]
 */
export function denseBackward(
  k: Kernels,
  dx: Float32Array | null,
  db: Float32Array,
  dw: WeightGradient,
  dy: Float32Array,
  x: Float32Array,
  w: Float32Array,
  batch: number,
  inDim: number,
  outDim: number,
  slope: number,
  ones?: Float32Array,
): void {
  if (dx) k.linearGradInput(batch, inDim, outDim, dy, w, x, dx, slope);
  if (ones) {
    k.gemm(1, outDim, batch, ones, dy, db);
  } else {
    db.fill(0);
    for (let i = 0; i < batch; i++) {
      const row = i * outDim;
      for (let j = 0; j < outDim; j++) db[j] += dy[row + j];
    }
  }
  if ('into' in dw) k.gemmTN(outDim, inDim, batch, dy, x, dw.into);
  else k.gemmTN(outDim, inDim, batch, dy, x, w, true, -dw.step);
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
  if (exps.length < classes) exps = new Float64Array(classes);
  for (let i = 0; i < batch; i++) {
    const row = i * classes;
    const label = labels[i];
    const arg = argmax(logits, row, classes);
    const max = logits[row + arg];
    if (arg === label) correct++;
    const uniform = label === UNIFORM_TARGET;
    // Read before dlogits (which may alias logits) is written; each exponential is taken once.
    const labelLogit = uniform ? 0 : logits[row + label] - max;
    let sum = 0;
    let mean = 0;
    for (let j = 0; j < classes; j++) {
      const z = logits[row + j] - max;
      const e = Math.exp(z);
      exps[j] = e;
      sum += e;
      mean += z;
    }
    loss += Math.log(sum) - (uniform ? mean / classes : labelLogit);
    const inv = 1 / sum;
    for (let j = 0; j < classes; j++) {
      dlogits[row + j] = (exps[j] * inv - (uniform ? 1 / classes : j === label ? 1 : 0)) * invBatch;
    }
  }
  return { loss: loss * invBatch, correct };
}

/** One row's exponentials in `softmaxCrossEntropy`, grown to the widest row seen. */
let exps = new Float64Array(16);
