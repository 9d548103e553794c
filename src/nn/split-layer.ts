/**
 * @module
 * One image through a float32 network's second layer without reading all of its weights. With z = W₁x + b₁ and
 * h = LeakyReLU(z) = (1−α)·relu(z) + α·z (slope α), the second layer's product is
 *   W₂h + b₂ = (1−α)·W₂·relu(z) + α·(W₂W₁)·x + (α·W₂b₁ + b₂),
 * exact in real arithmetic (rounding differs from the direct product within float tolerance). relu(z) and an
 * image x are both sparse, and the row-by-row products (`Kernels.linearT`) read only the weight rows of
 * nonzero inputs: for an MNIST digit (~150 nonzero pixels, about half of z positive) ~1.3 MB of the
 * 784-1024-512 network's weights instead of the 2 MB of W₂. Costs α·(W₂W₁)ᵀ once per predictor
 * ([inputs × second layer's outputs] floats: 1.6 MB there), made a slice per single image (`ready`).
 */
import type { Kernels } from '../kernels/kernels.ts';

/**
 * Rows of α·(W₂W₁)ᵀ made per single image until all are: the whole product (784×1024×512) takes ~20 ms on one
 * warm thread and ~100 ms in a fresh process, which one request should not pay at once.
 */
const ROWS_PER_IMAGE = 64;

export class SplitSecondLayer {
  /** Rows of vt made so far. */
  private made = 0;

  private constructor(
    private readonly kernels: Kernels,
    private readonly sizes: readonly [number, number, number],
    /** α·(W₂W₁)ᵀ [k×n2], one row per input. */
    private readonly vt: Float32Array,
    /** α·W₂b₁ + b₂. */
    private readonly c: Float32Array,
    /** This image's α·(W₂W₁)x, between the two calls. */
    private readonly u: Float32Array,
    private readonly alpha: number,
  ) {}

  /**
   * For the first two layers ([k, n1, n2] units, the second's weights stored [in×out], w2t [n1×n2]) and the
   * first layer's bias, or null when the first layer's activation is a plain ReLU (α = 0: its zeros are
   * skipped directly).
   */
  static create(
    kernels: Kernels,
    [k, n1, n2]: readonly number[],
    alpha: number,
    b1: Float32Array,
    w2t: Float32Array,
    b2: Float32Array,
  ): SplitSecondLayer | null {
    if (alpha === 0) return null;
    const c = kernels.alloc(n2);
    kernels.linearT(1, n2, n1, b1, w2t, b2, c, undefined, false, alpha);
    const vt = kernels.alloc(k * n2);
    return new SplitSecondLayer(kernels, [k, n1, n2], vt, c, kernels.alloc(n2), alpha);
  }

  /**
   * Whether all of α·(W₂W₁)ᵀ is made; until it is, makes its next ROWS_PER_IMAGE rows from the first two layers'
   * weights stored [in×out] (w1t [k×n1], w2t [n1×n2]). Called once per single image.
   */
  ready(w1t: Float32Array, w2t: Float32Array): boolean {
    const [k, n1, n2] = this.sizes;
    if (this.made === k) return true;
    const [from, to] = [this.made, Math.min(k, this.made + ROWS_PER_IMAGE)];
    const rows = w1t.subarray(from * n1, to * n1);
    this.kernels.gemm(to - from, n2, n1, rows, w2t, this.vt.subarray(from * n2, to * n2), false, this.alpha);
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

  /** z = relu(x·w1t + b1) for one image x, and this image's α·(W₂W₁)x kept for `second`. */
  first(k: number, n1: number, x: Float32Array, w1t: Float32Array, b1: Float32Array, z: Float32Array): void {
    this.kernels.linearT(1, n1, k, x, w1t, b1, z, 0);
    this.kernels.gemm(1, this.u.length, k, x, this.vt, this.u);
  }

  /** y = the second layer's output for the z of `first`: (1−α)·z·w2t + its u + c, through `slope` when given. */
  second(n1: number, z: Float32Array, w2t: Float32Array, y: Float32Array, slope?: number): void {
    y.set(this.u);
    this.kernels.linearT(1, this.u.length, n1, z, w2t, this.c, y, slope, true, 1 - this.alpha);
  }

  dispose(): void {
    for (const a of [this.vt, this.c, this.u]) this.kernels.free(a);
  }
}
