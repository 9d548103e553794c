/**
 * @module
 * Inference-only models built from decoded model data: float weights run through `Mlp`, int8 weights run through
 * the kernels' integer path directly (no float copy of the weights is kept).
 */
import { int8RowSums, type Kernels } from '../kernels/kernels.ts';
import { softmax } from './layers.ts';
import { checkBatch, checkSpec, layoutOf, Mlp, type MlpSpec } from './mlp.ts';

/** What a predictor needs of a decoded model blob (structurally a subset of the format's `ModelData`). */
export interface PredictorSource {
  sizes: number[];
  alpha: number;
  params: Float32Array;
  quantized?: { q: Int8Array; scale: Float32Array }[];
}

export interface Predictor {
  readonly spec: MlpSpec;
  /** Class probabilities [batch×classes] for x [batch×inputSize] (pixels in [0, 1]). */
  predict(x: Float32Array, batch: number): Float32Array;
  dispose(): void;
}

/** A predictor for the model: int8 when `quantized` is present, float32 otherwise. */
export function createPredictor(model: PredictorSource, kernels: Kernels): Predictor {
  const spec = { sizes: model.sizes, alpha: model.alpha };
  if (!model.quantized) return Mlp.fromParams(spec, kernels, model.params);
  return new Int8Predictor(spec, kernels, model);
}

const CHUNK = 64;

class Int8Predictor implements Predictor {
  private readonly q: Int8Array[];
  private readonly scale: Float32Array[];
  private readonly bias: Float32Array[];
  /** Σ of each weight row, once per layer, for kernels that quantize activations with a zero point. */
  private readonly rowSums: Float32Array[];
  private readonly acts: Float32Array[];

  constructor(
    readonly spec: MlpSpec,
    private readonly kernels: Kernels,
    model: PredictorSource,
  ) {
    checkSpec(spec);
    const { layers } = layoutOf(spec.sizes);
    const quantized = model.quantized!;
    if (quantized.length !== layers.length) {
      throw new RangeError(`expected ${layers.length} quantized layers, got ${quantized.length}`);
    }
    this.q = [];
    this.scale = [];
    this.bias = [];
    this.rowSums = [];
    layers.forEach((layer, l) => {
      const { q, scale } = quantized[l];
      if (q.length !== layer.inDim * layer.outDim || scale.length !== layer.outDim) {
        throw new RangeError(`quantized layer ${l} does not match ${layer.outDim}×${layer.inDim}`);
      }
      const kq = kernels.allocInt8(q.length);
      kq.set(q);
      const ks = kernels.alloc(scale.length);
      ks.set(scale);
      const kb = kernels.alloc(layer.outDim);
      kb.set(model.params.subarray(layer.biasOffset, layer.biasOffset + layer.outDim));
      this.q.push(kq);
      this.scale.push(ks);
      this.bias.push(kb);
      this.rowSums.push(int8RowSums(layer.outDim, layer.inDim, q, kernels.alloc(layer.outDim)));
    });
    this.acts = spec.sizes.map((s) => kernels.alloc(CHUNK * s));
  }

  predict(x: Float32Array, batch: number): Float32Array {
    const { sizes, alpha } = this.spec;
    const d = sizes[0];
    const classes = sizes[sizes.length - 1];
    checkBatch(x, batch, d);
    const probs = new Float32Array(batch * classes);
    const last = sizes.length - 2;
    for (let start = 0; start < batch; start += CHUNK) {
      const rows = Math.min(CHUNK, batch - start);
      this.acts[0].set(x.subarray(start * d, (start + rows) * d));
      for (let l = 0; l <= last; l++) {
        const out = this.acts[l + 1];
        const n = sizes[l + 1];
        const [q, scale, bias, sums] = [this.q[l], this.scale[l], this.bias[l], this.rowSums[l]];
        // Hidden layers store their LeakyReLU as the product is stored (no extra pass over the activations).
        const slope = l < last ? alpha : undefined;
        this.kernels.linearInt8(rows, n, sizes[l], this.acts[l], q, scale, bias, out, sums, slope);
      }
      softmax(probs.subarray(start * classes), this.acts[last + 1], rows, classes);
    }
    return probs;
  }

  dispose(): void {
    for (const a of [...this.q, ...this.scale, ...this.bias, ...this.rowSums, ...this.acts])
      this.kernels.free(a);
  }
}
