/**
 * @module
 * Inference-only models built from decoded model data: float32 weights in the layout that reads fastest for
 * the batch at hand, int8 weights through the kernels' integer path directly (no float copy of them is kept).
 */
import { int8RowSums, type Kernels, type LinearTOptions } from '../kernels/kernels.ts';
import { softmax } from './layers.ts';
import { checkBatch, checkSpec, layoutOf, type MlpSpec } from './mlp.ts';
import { SplitSecondLayer } from './split-layer.ts';

/** What a predictor needs of a decoded model blob (structurally a subset of the format's `ModelData`). */
export interface PredictorSource {
  sizes: number[];
  alpha: number;
  params: Float32Array;
  /** int8 layers; with `bias`, `params` is not read (a decoded blob makes its float copy only when read). */
  quantized?: { q: Int8Array; scale: Float32Array; bias?: Float32Array }[];
}

export interface Predictor {
  readonly spec: MlpSpec;
  /**
   * Class probabilities [batch×classes] for x [batch×inputSize] (pixels in [0, 1]). With `features`
   * [batch×penultimate], the last hidden layer's activations (after its LeakyReLU) are copied there too.
   */
  predict(x: Float32Array, batch: number, features?: Float32Array): Float32Array;
  dispose(): void;
}

/** A predictor for the model: int8 when `quantized` is present, float32 otherwise. */
export function createPredictor(model: PredictorSource, kernels: Kernels): Predictor {
  const spec = { sizes: model.sizes, alpha: model.alpha };
  if (!model.quantized) return new F32Predictor(spec, kernels, model.params);
  return new Int8Predictor(spec, kernels, model);
}

/**
 * Batches of more than this many rows grow a predictor's chunk (see ChunkedPredictor): the Worker's batches are
 * at most 256, so its predictors keep the footprint they had at load.
 */
const GROW_ABOVE_ROWS = 256;

/**
 * Runs batches in chunks of at most `maxChunk` rows through the layers, then softmax. Activations for `chunk`
 * rows are allocated up front; a batch of more than GROW_ABOVE_ROWS rows grows them (once) up to `maxChunk`
 * rows, so that serving keeps the small footprint and large batches pay the per-call work of the kernels
 * (packing weight panels, hand-offs between threads) less often.
 */
abstract class ChunkedPredictor implements Predictor {
  private acts: Float32Array[];
  private chunk: number;

  constructor(
    readonly spec: MlpSpec,
    protected readonly kernels: Kernels,
    chunk: number,
    private readonly maxChunk = chunk,
  ) {
    checkSpec(spec);
    this.chunk = chunk;
    this.acts = spec.sizes.map((s) => kernels.alloc(chunk * s));
  }

  /** Grows the activations to min(batch, maxChunk) rows when the batch is large and that is more than they hold. */
  private fit(batch: number): void {
    const rows = Math.min(batch, this.maxChunk);
    if (batch <= GROW_ABOVE_ROWS || rows <= this.chunk) return;
    for (const a of this.acts) this.kernels.free(a);
    this.acts = this.spec.sizes.map((s) => this.kernels.alloc(rows * s));
    this.chunk = rows;
  }

  /** y [rows×out] = layer l of x [rows×in], through LeakyReLU with `slope` when it is given. */
  protected abstract layer(l: number, rows: number, x: Float32Array, y: Float32Array, slope?: number): void;
  protected abstract disposeWeights(): void;

  predict(x: Float32Array, batch: number, features?: Float32Array): Float32Array {
    const { sizes, alpha } = this.spec;
    const d = sizes[0];
    const classes = sizes[sizes.length - 1];
    checkBatch(x, batch, d);
    this.fit(batch);
    const probs = new Float32Array(batch * classes);
    const last = sizes.length - 2;
    for (let start = 0; start < batch; start += this.chunk) {
      const rows = Math.min(this.chunk, batch - start);
      this.acts[0].set(x.subarray(start * d, (start + rows) * d));
      for (let l = 0; l <= last; l++) {
        // Hidden layers store their LeakyReLU as the product is stored (no extra pass over the activations).
        this.layer(l, rows, this.acts[l], this.acts[l + 1], l < last ? alpha : undefined);
      }
      if (features) {
        const f = sizes[last];
        features.set(this.acts[last].subarray(0, rows * f), start * f);
      }
      softmax(probs.subarray(start * classes), this.acts[last + 1], rows, classes);
    }
    return probs;
  }

  dispose(): void {
    this.disposeWeights();
    for (const a of this.acts) this.kernels.free(a);
    this.acts.length = 0;
  }
}

/**
 * Layers with at least this many outputs are re-laid [in×out] for single images (`Kernels.linearT`): one image
 * then reads only the weight rows of its nonzero inputs (a fifth of the first layer for an MNIST digit), each
 * as one linear stream. Narrow layers (the 10 logits) read faster as dot products of [out×in] rows.
 */
const TRANSPOSE_MIN_OUTPUTS = 64;

/**
 * Rows per chunk a float32 predictor grows to for large batches: layer 1 at batch 1000 (MNIST) took ~12% less CPU
 * per image in chunks of 1000 than of 256 (its 32-column weight panels are packed once per chunk).
 */
const F32_MAX_CHUNK = 1024;

/**
 * float32 weights. They stay in the trained [out×in] layout until the first single image, which re-lays the
 * wide layers [in×out] once (a few milliseconds for 784-1024-512-10; batches run as fast in either layout), so
 * that predictors made only to score batches (as a fine-tune does) never pay for it. Single images also make
 * the split second layer (`SplitSecondLayer`, 1.6 MB more there) a slice at a time, and once it is made, those
 * sparse enough for it run through it.
 */
class F32Predictor extends ChunkedPredictor {
  private readonly weights: Float32Array[] = [];
  private readonly biases: Float32Array[] = [];
  /** Whether weights[l] is [in×out] (else [out×in]). */
  private readonly transposed: boolean[];
  /** linearT's options for weights[l]: its row stride when its rows are wider than its outputs. */
  private readonly rowOptions: (LinearTOptions | undefined)[];
  private relaid = false;
  private split: SplitSecondLayer | null = null;
  /** Whether the image being predicted runs through `split`. */
  private splitNow = false;

  constructor(spec: MlpSpec, kernels: Kernels, params: Float32Array) {
    super(spec, kernels, 256, F32_MAX_CHUNK);
    const { layers, total } = layoutOf(spec.sizes);
    if (params.length !== total) {
      throw new RangeError(`expected ${total} parameters for ${spec.sizes.join('-')}, got ${params.length}`);
    }
    for (const { weightOffset, biasOffset, inDim, outDim } of layers) {
      const w = kernels.alloc(inDim * outDim);
      w.set(params.subarray(weightOffset, weightOffset + inDim * outDim));
      const b = kernels.alloc(outDim);
      b.set(params.subarray(biasOffset, biasOffset + outDim));
      this.weights.push(w);
      this.biases.push(b);
    }
    this.transposed = layers.map(() => false);
    this.rowOptions = layers.map(() => undefined);
  }

  override predict(x: Float32Array, batch: number, features?: Float32Array): Float32Array {
    if (batch === 1 && !this.relaid) this.transposeWideLayers();
    const { sizes } = this.spec;
    const split = batch === 1 ? this.split : null;
    this.splitNow = !!split?.ready(this.weights[0], this.weights[1]) && split.pays(x, sizes[0], sizes[1]);
    try {
      return super.predict(x, batch, features);
    } finally {
      this.splitNow = false;
    }
  }

  protected layer(l: number, rows: number, x: Float32Array, y: Float32Array, slope?: number): void {
    const [k, n] = [this.spec.sizes[l], this.spec.sizes[l + 1]];
    if (this.splitNow && l < 2) {
      if (l === 0) this.split!.first(x, this.weights[0], y);
      else this.split!.second(x, this.weights[1], y, slope);
      return;
    }
    const [w, b] = [this.weights[l], this.biases[l]];
    if (this.transposed[l]) this.kernels.linearT(rows, n, k, x, w, b, y, slope, this.rowOptions[l]);
    else this.kernels.linear(rows, n, k, x, w, b, y, slope);
  }

  protected disposeWeights(): void {
    for (const a of [...this.weights, ...this.biases]) this.kernels.free(a);
    this.weights.length = 0;
    this.biases.length = 0;
    this.split?.dispose();
    this.split = null;
  }

  private transposeWideLayers(): void {
    this.relaid = true;
    const { sizes, alpha } = this.spec;
    const wide = (l: number) => sizes[l + 1] >= TRANSPOSE_MIN_OUTPUTS;
    // The split second layer keeps α·(W₂W₁)ᵀ beside W₁ᵀ, in the same rows (one stream per pixel).
    const splits = sizes.length > 2 && wide(0) && wide(1) && SplitSecondLayer.applies(alpha);
    for (let l = 0; l + 1 < sizes.length; l++) {
      const [k, n] = [sizes[l], sizes[l + 1]];
      if (!wide(l)) continue;
      const stride = l === 0 && splits ? n + sizes[2] : n;
      const w = this.weights[l];
      const wt = this.kernels.alloc(k * stride);
      transpose(w, n, k, wt, stride);
      this.weights[l] = wt;
      this.transposed[l] = true;
      if (stride !== n) this.rowOptions[l] = { wtStride: stride };
      this.kernels.free(w);
    }
    if (splits) {
      const [b1, b2] = this.biases;
      this.split = SplitSecondLayer.create(this.kernels, sizes, alpha, b1, this.weights[1], b2);
    }
  }
}

/**
 * out [cols×rows] = a [rows×cols] transposed, out's rows `stride` apart (at least rows), in 32×32 blocks (both
 * sides stay in cache).
 */
function transpose(a: Float32Array, rows: number, cols: number, out: Float32Array, stride = rows): void {
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const src = r * cols;
        for (let c = c0; c < c1; c++) out[c * stride + r] = a[src + c];
      }
    }
  }
}

/**
 * Rows per chunk an int8 predictor grows to for large batches: 16 times fewer kernel calls at batch 1000, so
 * fewer hand-offs between threads (on a busy machine each can wait for a descheduled helper): batch-1000 int8 on
 * 2 threads, alternated, load 2.5, 23,103 -> 35,847 images/s with the shared work below.
 */
const INT8_MAX_CHUNK = 1024;

/**
 * int8 weights used directly by the kernels' integer path (no float copy of them). The first layer's weights
 * are kept in input pairs instead (`Kernels.packInt8T`) when the kernels have `linearInt8T`: its input is an image,
 * and that layout reads only the weights of nonzero pixel pairs (for MNIST digits 1.5-2x faster than the
 * row layout, one image or a batch; for images without any blank pixel about 0.6-0.8x). One layout per layer,
 * so no memory is added.
 */
class Int8Predictor extends ChunkedPredictor {
  private readonly q: Int8Array[];
  /** Whether q[l] is in input pairs (`int8PairRows`) rather than [out×in] rows. */
  private readonly pairs: boolean[] = [];
  private readonly scale: Float32Array[];
  private readonly bias: Float32Array[];
  /** Σ of each weight row, once per layer, for kernels that quantize activations with a zero point. */
  private readonly rowSums: Float32Array[];

  constructor(spec: MlpSpec, kernels: Kernels, model: PredictorSource) {
    super(spec, kernels, 64, INT8_MAX_CHUNK);
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
      const { q, scale, bias } = quantized[l];
      if (
        q.length !== layer.inDim * layer.outDim ||
        scale.length !== layer.outDim ||
        (bias && bias.length !== layer.outDim)
      ) {
        throw new RangeError(`quantized layer ${l} does not match ${layer.outDim}×${layer.inDim}`);
      }
      const pairs = l === 0 && kernels.linearInt8T !== undefined && kernels.packInt8T !== undefined;
      // The pair layout is made from q as it is; row weights are copied into kernel memory, and their row sums
      // read them there.
      const kq = pairs ? kernels.packInt8T!(layer.outDim, layer.inDim, q) : kernels.allocInt8(q.length);
      if (!pairs) kq.set(q);
      this.pairs.push(pairs);
      const ks = kernels.alloc(scale.length);
      ks.set(scale);
      const kb = kernels.alloc(layer.outDim);
      kb.set(bias ?? model.params.subarray(layer.biasOffset, layer.biasOffset + layer.outDim));
      this.q.push(kq);
      this.scale.push(ks);
      this.bias.push(kb);
      const rows = pairs ? q : kq;
      this.rowSums.push(
        kernels.rowSumsInt8?.(layer.outDim, layer.inDim, rows) ??
          int8RowSums(layer.outDim, layer.inDim, rows, kernels.alloc(layer.outDim)),
      );
    });
  }

  protected layer(l: number, rows: number, x: Float32Array, y: Float32Array, slope?: number): void {
    const [k, n] = [this.spec.sizes[l], this.spec.sizes[l + 1]];
    const linear = this.pairs[l] ? this.kernels.linearInt8T! : this.kernels.linearInt8;
    linear.call(
      this.kernels,
      rows,
      n,
      k,
      x,
      this.q[l],
      this.scale[l],
      this.bias[l],
      y,
      this.rowSums[l],
      slope,
    );
  }

  protected disposeWeights(): void {
    for (const a of [...this.q, ...this.scale, ...this.bias, ...this.rowSums]) this.kernels.free(a);
  }
}
