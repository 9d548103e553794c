/**
 * @module
 * One image through a float32 network's second layer without reading all of its weights. With z = W₁x + b₁ and
 * h = LeakyReLU(z) = (1−α)·relu(z) + α·z (slope α), the second layer's product is
 *   W₂h + b₂ = (1−α)·W₂·relu(z) + α·(W₂W₁)·x + (α·W₂b₁ + b₂),
 * exact in real arithmetic (rounding differs from the direct product within float tolerance). relu(z) and an
 * image x are both sparse, and the row-by-row products (`Kernels.linearT`) read only the weight rows of
 * nonzero inputs: for an MNIST digit (~150 nonzero pixels, about half of z positive) ~1.3 MB of the
 * 784-1024-512 network's weights instead of the 2 MB of W₂. α·(W₂W₁)ᵀ sits beside W₁ᵀ in the first layer's
 * re-laid rows (n1 + n2 floats per input; 1.6 MB more there), so that z and α·(W₂W₁)x come from one pass over
 * one row per nonzero pixel (two passes over rows of 4 and 2 KB took ~1.15x as long). It is made a slice per
 * single image (`ready`).
 */
import type { Kernels, LinearTOptions } from '../kernels/kernels.ts';

/**
 * Rows of α·(W₂W₁)ᵀ made per single image until all are: the whole product (784×1024×512) takes ~20 ms on one
 * warm thread and ~100 ms in a fresh process, which one request should not pay at once.
 */
const ROWS_PER_IMAGE = 64;

export class SplitSecondLayer {
  /** Rows of α·(W₂W₁)ᵀ made so far. */
  private made = 0;
  /** The second layer's options: (1−α)·relu(z)·W₂ᵀ added to α·(W₂W₁)x. */
  private readonly secondOptions: LinearTOptions;

  private constructor(
    private readonly kernels: Kernels,
    private readonly sizes: readonly [number, number, number],
    /** [b₁ | 0]: the first pass's bias. */
    private readonly b1u: Float32Array,
    /** α·W₂b₁ + b₂. */
    private readonly c: Float32Array,
    private readonly alpha: number,
  ) {
    this.secondOptions = { accumulate: true, alpha: 1 - alpha, reluInput: true };
  }

  /** Whether the split is worth making for LeakyReLU slope α (α = 0, a ReLU: its zeros are skipped directly). */
  static applies(alpha: number): boolean {
    return alpha !== 0;
  }

  /**
   * For the first two layers ([k, n1, n2] units; the second's weights stored [in×out], w2t [n1×n2]) and their
   * biases; the first layer's weights must be stored [in×out] in rows of n1 + n2 (the first n1 its own).
   */
  static create(
    kernels: Kernels,
    [k, n1, n2]: readonly number[],
    alpha: number,
    b1: Float32Array,
    w2t: Float32Array,
    b2: Float32Array,
  ): SplitSecondLayer {
    const c = kernels.alloc(n2);
    kernels.linearT(1, n2, n1, b1, w2t, b2, c, undefined, { alpha });
    const b1u = kernels.alloc(n1 + n2);
    b1u.set(b1.subarray(0, n1));
    return new SplitSecondLayer(kernels, [k, n1, n2], b1u, c, alpha);
  }

  /**
   * Whether all of α·(W₂W₁)ᵀ is made; until it is, makes its next ROWS_PER_IMAGE rows into the first layer's rows
   * (w1 [k × (n1 + n2)], W₁ᵀ in the first n1 columns) from w2t [n1×n2]. Called once per single image.
   */
  ready(w1: Float32Array, w2t: Float32Array): boolean {
    const [k, n1, n2] = this.sizes;
    if (this.made === k) return true;
    const [from, to] = [this.made, Math.min(k, this.made + ROWS_PER_IMAGE)];
    const width = n1 + n2;
    const rows = this.kernels.alloc((to - from) * n1);
    const out = this.kernels.alloc((to - from) * n2);
    for (let p = from; p < to; p++) rows.set(w1.subarray(p * width, p * width + n1), (p - from) * n1);
    this.kernels.gemm(to - from, n2, n1, rows, w2t, out, false, this.alpha);
    for (let p = from; p < to; p++)
      w1.set(out.subarray((p - from) * n2, (p - from + 1) * n2), p * width + n1);
    this.kernels.free(rows);
    this.kernels.free(out);
    this.made = to;
    return false;
  }

  /**
   * Whether the split reads fewer weights for the image x (k values) than the direct second layer: its rows of
   * α·(W₂W₁)ᵀ (n2 floats per nonzero input) and of W₂ for relu(z) (about half of the n1) against all n1 rows.
   */
  pays(x: Float32Array, k: number, n1: number): boolean {
    let nonzero = 0;
    for (let p = 0; p < k; p++) nonzero += x[p] !== 0 ? 1 : 0;
    return 2 * nonzero < n1;
  }

  /**
   * [z | α·(W₂W₁)x] into zu (n1 + n2 values; z before its activation) for one image x, in one pass over the
   * first layer's rows w1 [k × (n1 + n2)].
   */
  first(x: Float32Array, w1: Float32Array, zu: Float32Array): void {
    const [k, n1, n2] = this.sizes;
    this.kernels.linearT(1, n1 + n2, k, x, w1, this.b1u, zu);
  }

  /** y = the second layer's output for the zu of `first`: (1−α)·relu(z)·w2t + α·(W₂W₁)x + c, through `slope`. */
  second(zu: Float32Array, w2t: Float32Array, y: Float32Array, slope?: number): void {
    const [, n1, n2] = this.sizes;
    y.set(zu.subarray(n1, n1 + n2));
    this.kernels.linearT(1, n2, n1, zu, w2t, this.c, y, slope, this.secondOptions);
  }

  dispose(): void {
    for (const a of [this.b1u, this.c]) this.kernels.free(a);
  }
}
