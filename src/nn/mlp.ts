/**
 * @module
 * The multilayer perceptron: dense layers with LeakyReLU between them and softmax at the end, all parameters in
 * ONE float buffer with per-layer views. Inference and evaluation live here; training lives in `trainer.ts`.
 */
import type { Kernels } from '../kernels/kernels.ts';
import { denseForward, softmax, softmaxCrossEntropy } from './layers.ts';
import { createNormal, createRng } from './rng.ts';

/** Layer sizes from input to output, e.g. [784, 1024, 512, 10], and the hidden layers' LeakyReLU slope. */
export interface MlpSpec {
  sizes: number[];
  alpha: number;
}

/** `he`: randn·sqrt(2/fanIn) (the default); `origin`: randn·0.01 as in the lab report. Biases start at zero. */
export interface InitOptions {
  scheme: 'he' | 'origin';
  seed: number;
}

/** Offsets of one layer's views in the flat parameter buffer. */
export interface LayerLayout {
  inDim: number;
  outDim: number;
  weightOffset: number;
  biasOffset: number;
}

/** Where each layer's weight [out×in] and bias [out] sit in the flat buffer, layer after layer. */
export function layoutOf(sizes: readonly number[]): { layers: LayerLayout[]; total: number } {
  const layers: LayerLayout[] = [];
  let offset = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inDim = sizes[l];
    const outDim = sizes[l + 1];
    layers.push({ inDim, outDim, weightOffset: offset, biasOffset: offset + inDim * outDim });
    offset += inDim * outDim + outDim;
  }
  return { layers, total: offset };
}

/** Throws a RangeError unless the spec describes a network this code can run. */
export function checkSpec(spec: MlpSpec): void {
  const { sizes, alpha } = spec;
  if (sizes.length < 2) throw new RangeError(`an MLP needs at least 2 sizes, got ${sizes.length}`);
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 1)
      throw new RangeError(`layer sizes must be positive integers, got ${s}`);
  }
  if (!Number.isFinite(alpha) || alpha < 0 || alpha >= 1) {
    throw new RangeError(`LeakyReLU alpha must be in [0, 1), got ${alpha}`);
  }
}

/** Activation buffers for a forward pass over at most `capacity` rows: acts[0] is the input, acts[L] the logits. */
export class Workspace {
  readonly acts: Float32Array[];
  constructor(
    readonly kernels: Kernels,
    sizes: readonly number[],
    readonly capacity: number,
  ) {
    this.acts = sizes.map((s) => kernels.alloc(capacity * s));
  }
  dispose(): void {
    for (const a of this.acts) this.kernels.free(a);
    this.acts.length = 0;
  }
}

const PREDICT_CHUNK = 256;

export class Mlp {
  /** All weights and biases, layer by layer: weight [out×in] row-major, then bias [out]. */
  readonly params: Float32Array;
  readonly layers: LayerLayout[];
  private predictWorkspace: Workspace | null = null;

  private constructor(
    readonly spec: MlpSpec,
    readonly kernels: Kernels,
  ) {
    checkSpec(spec);
    const { layers, total } = layoutOf(spec.sizes);
    this.layers = layers;
    this.params = kernels.alloc(total);
  }

  /** A fresh network with seeded random weights and zero biases. */
  static create(spec: MlpSpec, kernels: Kernels, init: InitOptions = { scheme: 'he', seed: 1 }): Mlp {
    const net = new Mlp(spec, kernels);
    const normal = createNormal(createRng(init.seed));
    for (let l = 0; l < net.layers.length; l++) {
      const std = init.scheme === 'he' ? Math.sqrt(2 / net.layers[l].inDim) : 0.01;
      const w = net.weight(l);
      for (let i = 0; i < w.length; i++) w[i] = normal() * std;
    }
    return net;
  }

  /** A network holding a copy of `params` (laid out as `layoutOf(spec.sizes)` says). */
  static fromParams(spec: MlpSpec, kernels: Kernels, params: Float32Array): Mlp {
    const net = new Mlp(spec, kernels);
    if (params.length !== net.params.length) {
      throw new RangeError(
        `expected ${net.params.length} parameters for ${spec.sizes.join('-')}, got ${params.length}`,
      );
    }
    net.params.set(params);
    return net;
  }

  get inputSize(): number {
    return this.spec.sizes[0];
  }

  get classes(): number {
    return this.spec.sizes[this.spec.sizes.length - 1];
  }

  /** Layer l's weight view [out×in]. */
  weight(l: number): Float32Array {
    const { weightOffset, inDim, outDim } = this.layers[l];
    return this.params.subarray(weightOffset, weightOffset + inDim * outDim);
  }

  /** Layer l's bias view [out]. */
  bias(l: number): Float32Array {
    const { biasOffset, outDim } = this.layers[l];
    return this.params.subarray(biasOffset, biasOffset + outDim);
  }

  /**
   * Runs rows [0, batch) of `x` through the network into `ws`; the logits end in ws.acts[L].
   * x [batch×inputSize], batch ≤ ws.capacity.
   */
  forward(ws: Workspace, x: Float32Array, batch: number): Float32Array {
    const { acts } = ws;
    acts[0].set(x.subarray(0, batch * this.inputSize));
    const last = this.layers.length - 1;
    for (let l = 0; l <= last; l++) {
      const { inDim, outDim } = this.layers[l];
      const out = acts[l + 1];
      const slope = l < last ? this.spec.alpha : undefined;
      denseForward(this.kernels, out, acts[l], this.weight(l), this.bias(l), batch, inDim, outDim, slope);
    }
    return acts[last + 1];
  }

  /** Class probabilities [batch×classes] for x [batch×inputSize] (pixels scaled to [0, 1]). */
  predict(x: Float32Array, batch: number): Float32Array {
    checkBatch(x, batch, this.inputSize);
    const classes = this.classes;
    const probs = new Float32Array(batch * classes);
    this.eachChunk(x, batch, (logits, start, rows) => {
      softmax(probs.subarray(start * classes), logits, rows, classes);
    });
    return probs;
  }

  /** Mean cross-entropy and accuracy of the first `count` rows of x against labels. */
  evaluate(x: Float32Array, labels: ArrayLike<number>, count: number): { loss: number; accuracy: number } {
    checkBatch(x, count, this.inputSize);
    if (count === 0) return { loss: 0, accuracy: 0 };
    const classes = this.classes;
    let lossSum = 0;
    let correct = 0;
    const scratch = new Float32Array(Math.min(count, PREDICT_CHUNK) * classes);
    this.eachChunk(x, count, (logits, start, rows) => {
      const r = softmaxCrossEntropy(scratch, logits, sliceLabels(labels, start, rows), rows, classes);
      lossSum += r.loss * rows;
      correct += r.correct;
    });
    return { loss: lossSum / count, accuracy: correct / count };
  }

  /** Frees the kernel memory this network holds; it must not be used afterwards. */
  dispose(): void {
    this.predictWorkspace?.dispose();
    this.predictWorkspace = null;
    this.kernels.free(this.params);
  }

  private eachChunk(
    x: Float32Array,
    count: number,
    visit: (logits: Float32Array, start: number, rows: number) => void,
  ): void {
    const capacity = Math.min(count, PREDICT_CHUNK);
    if (!this.predictWorkspace || this.predictWorkspace.capacity < capacity) {
      this.predictWorkspace?.dispose();
      this.predictWorkspace = new Workspace(this.kernels, this.spec.sizes, Math.max(capacity, 1));
    }
    const ws = this.predictWorkspace;
    const d = this.inputSize;
    for (let start = 0; start < count; start += ws.capacity) {
      const rows = Math.min(ws.capacity, count - start);
      const logits = this.forward(ws, x.subarray(start * d, (start + rows) * d), rows);
      visit(logits, start, rows);
    }
  }
}

/** Throws a RangeError unless x holds at least `batch` rows of `d` values. */
export function checkBatch(x: Float32Array, batch: number, d: number): void {
  if (!Number.isInteger(batch) || batch < 0)
    throw new RangeError(`batch must be a non-negative integer, got ${batch}`);
  if (x.length < batch * d) throw new RangeError(`input holds ${x.length} values, ${batch}×${d} needed`);
}

function sliceLabels(labels: ArrayLike<number>, start: number, rows: number): ArrayLike<number> {
  if (ArrayBuffer.isView(labels)) return (labels as unknown as Uint8Array).subarray(start, start + rows);
  return Array.prototype.slice.call(labels, start, start + rows) as number[];
}
