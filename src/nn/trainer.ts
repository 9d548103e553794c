/**
 * @module
 * Mini-batch training of an `Mlp`: forward, fused softmax cross-entropy, backward, and one optimizer update
 * (SGD with optional momentum, or Adam) with the origin's L1 `l1·sign(w)` and L2 `2·l2·w` terms on weights only.
 */
import type { Kernels } from '../kernels/kernels.ts';
import { denseBackward, softmaxCrossEntropy } from './layers.ts';
import { checkBatch, Workspace, type Mlp } from './mlp.ts';

export interface OptimizerOptions {
  kind: 'sgd' | 'adam';
  /** Learning rate; `Trainer.lr` can change it between steps (schedules). */
  lr: number;
  /** SGD momentum (0 = plain SGD); ignored by Adam. */
  momentum: number;
  /** L1 coefficient on weights (never biases). */
  l1: number;
  /** L2 coefficient on weights (never biases); the gradient term is 2·l2·w. */
  l2: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Checks optimizer settings, throwing a RangeError naming the bad one. */
export function checkOptimizer(o: OptimizerOptions): void {
  const nonNegative: [string, number][] = [
    ['lr', o.lr],
    ['momentum', o.momentum],
    ['l1', o.l1],
    ['l2', o.l2],
  ];
  for (const [name, v] of nonNegative) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${v}`);
  }
  if (o.momentum >= 1) throw new RangeError(`momentum must be < 1, got ${o.momentum}`);
}

export interface StepResult {
  /** Mean cross-entropy of the batch before the update (data loss only; see `penalty()` for L1/L2). */
  loss: number;
  /** Rows of the batch whose argmax matched the label, before the update. */
  correct: number;
}

export interface TrainerOptions {
  /**
   * Store the weight gradients in `grads` even under plain SGD, where they are otherwise applied to the
   * weights inside the gradient's GEMM (w += −lr·dyᵀx) and never written out. Default false.
   */
  keepGradients?: boolean;
}

export class Trainer {
  lr: number;
  readonly options: Readonly<OptimizerOptions>;
  private readonly kernels: Kernels;
  private readonly ws: Workspace;
  /**
   * The last step's gradients, laid out like `net.params`. Under plain SGD (momentum 0, no L1/L2) the weight
   * parts are not stored unless the trainer was made with `keepGradients` (the update is fused into the GEMM).
   */
  readonly grads: Float32Array;
  /** Momentum (SGD) or first moment (Adam), laid out like `net.params`; null for plain SGD. */
  private readonly state1: Float32Array | null;
  /** Second moment (Adam only). */
  private readonly state2: Float32Array | null;
  private readonly deltas: Float32Array[];
  /** maxBatch ones: the bias gradient is computed as the product onesᵀ·dy. */
  private readonly ones: Float32Array;
  private t = 0;
  private readonly keepGradients: boolean;

  constructor(
    readonly net: Mlp,
    options: OptimizerOptions,
    readonly maxBatch: number,
    trainerOptions: TrainerOptions = {},
  ) {
    this.keepGradients = trainerOptions.keepGradients ?? false;
    checkOptimizer(options);
    if (!Number.isInteger(maxBatch) || maxBatch < 1)
      throw new RangeError(`maxBatch must be ≥ 1, got ${maxBatch}`);
    this.options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, ...options };
    this.lr = options.lr;
    this.kernels = net.kernels;
    const k = this.kernels;
    this.ws = new Workspace(k, net.spec.sizes, maxBatch);
    this.grads = k.alloc(net.params.length);
    const adam = options.kind === 'adam';
    this.state1 = adam || options.momentum > 0 ? k.alloc(net.params.length) : null;
    this.state2 = adam ? k.alloc(net.params.length) : null;
    // deltas[l] holds the gradient w.r.t. layer l's output, [maxBatch×sizes[l+1]].
    this.deltas = net.layers.map((layer) => k.alloc(maxBatch * layer.outDim));
    this.ones = k.alloc(maxBatch).fill(1);
  }

  /** One update on rows [0, batch) of x with their labels. x [batch×inputSize], labels [batch] in [0, classes). */
  step(x: Float32Array, labels: ArrayLike<number>, batch: number): StepResult {
    const { net, ws, deltas, grads } = this;
    checkBatch(x, batch, net.inputSize);
    if (batch < 1 || batch > this.maxBatch)
      throw new RangeError(`batch must be in [1, ${this.maxBatch}], got ${batch}`);
    const L = net.layers.length;
    const logits = net.forward(ws, x, batch);
    const result = softmaxCrossEntropy(deltas[L - 1], logits, labels, batch, net.classes);
    const fused = this.fusedUpdate();
    for (let l = L - 1; l >= 0; l--) {
      const { inDim, outDim, weightOffset, biasOffset } = net.layers[l];
      const db = grads.subarray(biasOffset, biasOffset + outDim);
      // Plain SGD: w += −lr·dyᵀx straight from the gradient's product; else dw is stored for the update.
      const dw = fused
        ? { step: this.lr }
        : { into: grads.subarray(weightOffset, weightOffset + inDim * outDim) };
      // dx (through the LeakyReLU whose output ws.acts[l] is) needs the old weights: denseBackward does it first.
      const dx = l > 0 ? deltas[l - 1] : null;
      const w = net.weight(l);
      const [dy, x, slope] = [deltas[l], ws.acts[l], net.spec.alpha];
      denseBackward(this.kernels, dx, db, dw, dy, x, w, batch, inDim, outDim, slope, this.ones);
    }
    this.update(fused);
    return result;
  }

  /** The regularisation term the update adds, l1·Σ|w| + l2·Σw² over weights only, reported apart from the data loss. */
  penalty(): number {
    const { l1, l2 } = this.options;
    if (l1 === 0 && l2 === 0) return 0;
    let abs = 0;
    let sq = 0;
    for (let l = 0; l < this.net.layers.length; l++) {
      const w = this.net.weight(l);
      for (let i = 0; i < w.length; i++) {
        abs += Math.abs(w[i]);
        sq += w[i] * w[i];
      }
    }
    return l1 * abs + l2 * sq;
  }

  /** Frees the kernel memory of the trainer (not of the network). */
  dispose(): void {
    const k = this.kernels;
    this.ws.dispose();
    for (const a of [this.grads, this.state1, this.state2, this.ones, ...this.deltas]) if (a) k.free(a);
  }

  /** Whether this step applies the weight update inside the gradient GEMM: plain SGD, no decay. */
  private fusedUpdate(): boolean {
    const o = this.options;
    return !this.keepGradients && o.kind === 'sgd' && o.momentum === 0 && o.l1 === 0 && o.l2 === 0;
  }

  /** The optimizer step over every view; `fused`: the weights are already updated, only the biases remain. */
  private update(fused: boolean): void {
    const { net, grads, state1, state2, options: o } = this;
    const k = this.kernels;
    this.t++;
    for (let l = 0; l < net.layers.length; l++) {
      const { inDim, outDim, weightOffset, biasOffset } = net.layers[l];
      // The weight view and the bias view: decay applies to the first only.
      const views: [number, number, number, number][] = [
        [weightOffset, inDim * outDim, o.l1, o.l2],
        [biasOffset, outDim, 0, 0],
      ];
      if (fused) views.shift();
      for (const [offset, n, l1, l2] of views) {
        const w = net.params.subarray(offset, offset + n);
        const g = grads.subarray(offset, offset + n);
        const s1 = state1 ? state1.subarray(offset, offset + n) : null;
        if (o.kind === 'adam') {
          k.adamUpdate(w, g, s1!, state2!.subarray(offset, offset + n), {
            lr: this.lr,
            beta1: o.beta1!,
            beta2: o.beta2!,
            eps: o.eps!,
            t: this.t,
            l1,
            l2,
          });
        } else {
          k.sgdUpdate(w, g, s1, { lr: this.lr, momentum: o.momentum, l1, l2 });
        }
      }
    }
  }
}
