/**
 * @module
 * The kernel interface: the few dense operations that dominate the network's cost, behind one small contract
 * so that `src/nn` runs on the pure TypeScript reference or on WebAssembly SIMD unchanged.
 * Not a tensor library: row-major float32 matrices are plain typed arrays plus the shapes passed alongside.
 *
 * Conventions used by `src/nn`: a dense layer's weight is `[out×in]` row-major (one row per output unit, as in
 * PyTorch's Linear), so
 *   forward   y[b×out]  = x[b×in] · wᵀ            → gemmNT(b, out, in, x, w, y)
 *   backward  dx[b×in]  = dy[b×out] · w           → gemm(b, in, out, dy, w, dx)
 *             dw[out×in] = dyᵀ · x                → gemmTN(out, in, b, dy, x, dw)
 * and the fused forms the network actually calls: `linear` (forward with bias and LeakyReLU), `linearGradInput`
 * (dx through the previous LeakyReLU), and gemmTN with alpha = −lr accumulating into w (plain SGD's step).
 * Inference snapshots may keep a layer's weight transposed, `[in×out]`, and call `linearT`: one image then reads
 * only the weight rows of its nonzero inputs.
 */

/** Settings of one optimizer step on one parameter view. */
export interface UpdateOptions {
  /** Learning rate. */
  lr: number;
  /** Momentum coefficient; 0 means plain SGD and `velocity` is not touched. */
  momentum: number;
  /** L1 coefficient: adds `l1 * sign(w)` to the gradient (the origin's `alpha*sign(w)`). */
  l1: number;
  /** L2 coefficient: adds `2 * l2 * w` to the gradient (the origin's `2*wd*w`). */
  l2: number;
}

/** Settings of one Adam step; `t` is the 1-based step count used for bias correction. */
export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  t: number;
  l1: number;
  l2: number;
}

/** What `Kernels.linearT` may do beyond the layer itself. */
export interface LinearTOptions {
  /** y = alpha·(x · wt) + the old y + bias before the activation. */
  accumulate?: boolean;
  /** Scales the product (default 1). */
  alpha?: number;
  /**
   * Elements from one row of wt to the next (default n): the weights may be the first n columns of wider rows
   * (wt then holds at least (k−1)·wtStride + n elements).
   */
  wtStride?: number;
  /** Reads x through ReLU: inputs ≤ 0 count as 0 (NaN stays NaN). */
  reluInput?: boolean;
}

export interface Kernels {
  /** A short name for logs and benchmarks, e.g. `ts` or `wasm-simd-relaxed`. */
  readonly name: string;

  /**
   * Allocates a zero-filled float32 array that these kernels read and write without copying
   * (for WebAssembly: a view into its linear memory). Arrays from elsewhere still work, at the price of a copy.
   */
  alloc(length: number): Float32Array;
  /** Allocates a zero-filled int8 array, as `alloc` does for float32. */
  allocInt8(length: number): Int8Array;
  /** Returns an array obtained from `alloc`/`allocInt8`; it must not be used afterwards. */
  free(array: Float32Array | Int8Array): void;

  /** c[m×n] = a[m×k] · b[k×n], scaled by `alpha` (default 1), plus the old c when `accumulate`. */
  gemm(
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    accumulate?: boolean,
    alpha?: number,
  ): void;
  /** c[m×n] = aᵀ · b where a is [k×m] and b is [k×n], scaled by `alpha` (default 1), plus the old c when `accumulate`. */
  gemmTN(
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    accumulate?: boolean,
    alpha?: number,
  ): void;
  /** c[m×n] = a · bᵀ where a is [m×k] and b is [n×k], scaled by `alpha` (default 1), plus the old c when `accumulate`. */
  gemmNT(
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    accumulate?: boolean,
    alpha?: number,
  ): void;

  /**
   * Float dense layer: y[m×n] = x[m×k] · wᵀ + bias, w [n×k], then LeakyReLU with `slope` when it is given
   * (y > 0 ? y : slope·y). The bias add and the activation happen as the product is stored (no extra pass).
   * Kernels may skip zero inputs (an image batch's blank pixels); 0·∞ then contributes 0 instead of NaN.
   */
  linear(
    m: number,
    n: number,
    k: number,
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array,
    y: Float32Array,
    slope?: number,
  ): void;

  /**
   * The same dense layer with its weight stored transposed, wt [k×n] = wᵀ (one row per input unit, as
   * inference snapshots keep it): y[m×n] = x[m×k] · wt + bias, then LeakyReLU with `slope` when it is given.
   * A kernel may skip the rows of wt whose input is zero (an image's blank pixels), for one image so that it
   * reads only the weights it needs, for batches so that it multiplies less; 0·∞ then contributes 0, not NaN.
   * `options` add to the product, scale it, read the weights from wider rows or the input through ReLU.
   */
  linearT(
    m: number,
    n: number,
    k: number,
    x: Float32Array,
    wt: Float32Array,
    bias: Float32Array,
    y: Float32Array,
    slope?: number,
    options?: LinearTOptions,
  ): void;

  /**
   * The gradient flowing into a dense layer's input through the LeakyReLU that produced that input:
   * dx[m×n] = (dy[m×k] · w[k×n]) ⊙ (act > 0 ? 1 : slope), where act [m×n] is the LeakyReLU's output and w is
   * the layer's [out×in] weight (so k = out, n = in). The gating happens as the product is stored.
   */
  linearGradInput(
    m: number,
    n: number,
    k: number,
    dy: Float32Array,
    w: Float32Array,
    act: Float32Array,
    dx: Float32Array,
    slope: number,
  ): void;

  /**
   * int8 dense layer for inference: y[m×n] = (x[m×k] · qᵀ) ⊙ scale + bias, where q is [n×k] int8 and
   * scale[j] is row j's dequantization factor. Uses the int8 weights directly (no float copy of them).
   * Kernels may quantize each row of x (int16, or 6-bit with a zero point in the relaxed-SIMD build); the
   * optional `rowSums` (from `int8RowSums(n, k, q)`, computed once per weight matrix) spares such a kernel from
   * summing the weight rows on every call. It must match q; the TypeScript reference does not read it.
   * With `slope`, y is stored through LeakyReLU (y > 0 ? y : slope·y), as in `linear`.
   */
  linearInt8(
    m: number,
    n: number,
    k: number,
    x: Float32Array,
    q: Int8Array,
    scale: Float32Array,
    bias: Float32Array,
    y: Float32Array,
    rowSums?: Float32Array,
    slope?: number,
  ): void;

  /**
   * `linearInt8` with the weights in input pairs, qt = `int8PairRows(n, k, q)`: for each pair of inputs
   * (2p, 2p+1), the n outputs' two weights side by side. A kernel then reads, row by row, only the weight pairs
   * of the input pairs that are not zero (an image's blank pixels), each as one linear stream. `rowSums` (of q,
   * from `int8RowSums`) is required here. Optional: kernels without a fast path for it leave it out (and
   * `packInt8T`), and callers run `linearInt8`.
   */
  linearInt8T?(
    m: number,
    n: number,
    k: number,
    x: Float32Array,
    qt: Int8Array,
    scale: Float32Array,
    bias: Float32Array,
    y: Float32Array,
    rowSums: Float32Array,
    slope?: number,
  ): void;

  /**
   * q [n×k] re-laid as `linearInt8T` reads it (`int8PairRows`), in a new array from `allocInt8`. Present
   * exactly when `linearInt8T` is.
   */
  packInt8T?(n: number, k: number, q: Int8Array): Int8Array;

  /**
   * `int8RowSums(n, k, q)` by the kernels, the same numbers, in a new array from `alloc`. Optional: callers
   * without it use `int8RowSums`.
   */
  rowSumsInt8?(n: number, k: number, q: Int8Array): Float32Array;

  /**
   * The CRC-32 (zlib, PNG) of `bytes`, as an unsigned 32-bit number: the same as the format's `crc32`, for
   * checking a model blob as it is loaded (`decodeModel`'s `crc32` option). Optional: callers without it use the
   * format's.
   */
  crc32?(bytes: Uint8Array): number;

  /**
   * SGD step on one parameter view, in place:
   *   g' = g + l1·sign(w) + 2·l2·w;  v = momentum·v + g';  w -= lr·v   (with momentum 0: w -= lr·g').
   * `velocity` may be null when momentum is 0.
   */
  sgdUpdate(w: Float32Array, g: Float32Array, velocity: Float32Array | null, o: UpdateOptions): void;
  /** Adam step on one parameter view, in place; L1/L2 are added to the gradient as in `sgdUpdate`. */
  adamUpdate(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: AdamOptions): void;
}

/**
 * The sum of each row of int8 weights q [n×k], as `linearInt8`'s `rowSums` takes it: exact in float32 while
 * 128·k < 2^24 (k up to 131,072). Writes into `out` when given (e.g. an array from `alloc`).
 * @throws RangeError when q or out is shorter than the shape needs.
 */
export function int8RowSums(
  n: number,
  k: number,
  q: Int8Array,
  out: Float32Array = new Float32Array(n),
): Float32Array {
  if (q.length < n * k) throw new RangeError(`int8RowSums: q has ${q.length} elements, needs ${n * k}`);
  if (out.length < n) throw new RangeError(`int8RowSums: out has ${out.length} elements, needs ${n}`);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = j * k; p < (j + 1) * k; p++) s += q[p];
    out[j] = s;
  }
  return out;
}

/**
 * int8 weights q [n×k] re-laid in input pairs, as `Kernels.linearInt8T` takes them:
 * out[(p·n + j)·2 + e] = q[j·k + 2p + e] for the ⌈k/2⌉ pairs p (0 past k). Writes into `out` when given.
 * @throws RangeError when q or out is shorter than the shape needs.
 */
export function int8PairRows(
  n: number,
  k: number,
  q: Int8Array,
  out: Int8Array = new Int8Array(int8PairRowsLength(n, k)),
): Int8Array {
  const length = int8PairRowsLength(n, k);
  if (q.length < n * k) throw new RangeError(`int8PairRows: q has ${q.length} elements, needs ${n * k}`);
  if (out.length < length)
    throw new RangeError(`int8PairRows: out has ${out.length} elements, needs ${length}`);
  if (k & 1) out.fill(0, 0, length);
  // 32 outputs at a time: their rows (32·k bytes) stay in cache, and each pair's 64 bytes are written in order.
  const pairs = Math.ceil(k / 2);
  for (let j0 = 0; j0 < n; j0 += 32) {
    const j1 = Math.min(n, j0 + 32);
    for (let p = 0; p < pairs; p++) {
      const c = 2 * p;
      let o = (p * n + j0) * 2;
      for (let j = j0; j < j1; j++, o += 2) {
        out[o] = q[j * k + c];
        if (c + 1 < k) out[o + 1] = q[j * k + c + 1];
      }
    }
  }
  return out;
}

/** Elements of `int8PairRows(n, k, q)`: n·2·⌈k/2⌉. */
export function int8PairRowsLength(n: number, k: number): number {
  return n * 2 * Math.ceil(k / 2);
}
