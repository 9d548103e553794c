/**
 * @module
 * The pure TypeScript kernels: the reference every faster implementation is tested against, and the fallback
 * where WebAssembly is not available. Written for clarity first; loop orders are the cache-friendly ones.
 */
import {
  int8PairRows,
  type AdamOptions,
  type Kernels,
  type LinearTOptions,
  type UpdateOptions,
} from './kernels.ts';

/** c[m×n] = a[m×k] · b[k×n] (+ c). i-k-j order so the inner loop walks rows of b and c. */
export function gemmRef(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  accumulate = false,
  alpha = 1,
): void {
  if (!accumulate) c.fill(0, 0, m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = alpha * a[i * k + p];
      if (aip === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += aip * b[bp + j];
    }
  }
}

/** c[m×n] = aᵀ · b with a [k×m], b [k×n] (+ c). */
export function gemmTNRef(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  accumulate = false,
  alpha = 1,
): void {
  if (!accumulate) c.fill(0, 0, m * n);
  for (let p = 0; p < k; p++) {
    const ap = p * m;
    const bp = p * n;
    for (let i = 0; i < m; i++) {
      const api = alpha * a[ap + i];
      if (api === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) c[ci + j] += api * b[bp + j];
    }
  }
}

/** c[m×n] = a · bᵀ with a [m×k], b [n×k] (+ c): each entry is a dot product of two rows. */
export function gemmNTRef(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  accumulate = false,
  alpha = 1,
): void {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p] * b[bj + p];
      s *= alpha;
      c[i * n + j] = accumulate ? c[i * n + j] + s : s;
    }
  }
}

/** y = x · wᵀ + bias, then LeakyReLU with `slope` when given. */
export function linearRef(
  m: number,
  n: number,
  k: number,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array,
  y: Float32Array,
  slope?: number,
): void {
  gemmNTRef(m, n, k, x, w, y);
  addBiasActivate(m, n, bias, y, slope);
}

/**
 * y = alpha·(x · wt) (+ the old y when `accumulate`) + bias with wt [k×n] (the weight stored transposed, rows
 * `wtStride` apart, x read through ReLU with `reluInput`), then LeakyReLU with `slope` when given.
 */
export function linearTRef(
  m: number,
  n: number,
  k: number,
  x: Float32Array,
  wt: Float32Array,
  bias: Float32Array,
  y: Float32Array,
  slope?: number,
  options: LinearTOptions = {},
): void {
  const { accumulate = false, alpha = 1, wtStride = n, reluInput = false } = options;
  if (!accumulate) y.fill(0, 0, m * n);
  for (let i = 0; i < m; i++) {
    const yi = i * n;
    for (let p = 0; p < k; p++) {
      const v = x[i * k + p];
      const a = alpha * (reluInput && v <= 0 ? 0 : v);
      if (a === 0) continue;
      const row = p * wtStride;
      for (let j = 0; j < n; j++) y[yi + j] += a * wt[row + j];
    }
  }
  addBiasActivate(m, n, bias, y, slope);
}

function addBiasActivate(m: number, n: number, bias: Float32Array, y: Float32Array, slope?: number): void {
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) {
      const v = y[row + j] + bias[j];
      y[row + j] = slope === undefined || v > 0 ? v : slope * v;
    }
  }
}

/** dx = (dy · w) ⊙ (act > 0 ? 1 : slope). */
export function linearGradInputRef(
  m: number,
  n: number,
  k: number,
  dy: Float32Array,
  w: Float32Array,
  act: Float32Array,
  dx: Float32Array,
  slope: number,
): void {
  gemmRef(m, n, k, dy, w, dx);
  for (let i = 0; i < m * n; i++) if (!(act[i] > 0)) dx[i] *= slope;
}

/**
 * y = (x · qᵀ) ⊙ scale + bias with int8 q [n×k]; accumulates in float, the reference for integer kernels.
 * x is not quantized, so no zero-point correction is needed and `rowSums` is only checked for its length.
 * With `slope`, y goes through LeakyReLU.
 * @throws RangeError when rowSums is shorter than n.
 */
export function linearInt8Ref(
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
): void {
  if (rowSums && rowSums.length < n) {
    throw new RangeError(`linearInt8: rowSums has ${rowSums.length} elements, needs at least ${n}`);
  }
  for (let i = 0; i < m; i++) {
    const xi = i * k;
    for (let j = 0; j < n; j++) {
      const qj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += x[xi + p] * q[qj + p];
      const r = s * scale[j] + bias[j];
      y[i * n + j] = slope === undefined || r > 0 ? r : slope * r;
    }
  }
}

/** linearInt8 over weights in input pairs (`int8PairRows`), read from that layout directly. */
export function linearInt8TRef(
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
): void {
  if (rowSums.length < n) {
    throw new RangeError(`linearInt8T: rowSums has ${rowSums.length} elements, needs at least ${n}`);
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += x[i * k + p] * qt[((p >> 1) * n + j) * 2 + (p & 1)];
      const r = s * scale[j] + bias[j];
      y[i * n + j] = slope === undefined || r > 0 ? r : slope * r;
    }
  }
}

export function sgdUpdateRef(
  w: Float32Array,
  g: Float32Array,
  v: Float32Array | null,
  o: UpdateOptions,
): void {
  const { lr, momentum, l1, l2 } = o;
  const l2x2 = 2 * l2;
  if (momentum !== 0 && !v) throw new Error('sgdUpdate: momentum needs a velocity buffer');
  for (let i = 0; i < w.length; i++) {
    const wi = w[i];
    const gi = g[i] + l1 * Math.sign(wi) + l2x2 * wi;
    if (momentum !== 0) {
      const vi = momentum * v![i] + gi;
      v![i] = vi;
      w[i] = wi - lr * vi;
    } else {
      w[i] = wi - lr * gi;
    }
  }
}

export function adamUpdateRef(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  o: AdamOptions,
): void {
  const { lr, beta1, beta2, eps, t, l1, l2 } = o;
  const c1 = 1 - Math.pow(beta1, t);
  const c2 = 1 - Math.pow(beta2, t);
  const stepSize = lr / c1;
  const l2x2 = 2 * l2;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i];
    const gi = g[i] + l1 * Math.sign(wi) + l2x2 * wi;
    const mi = beta1 * m[i] + (1 - beta1) * gi;
    const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = wi - (stepSize * mi) / (Math.sqrt(vi / c2) + eps);
  }
}

/** The reference kernels. */
export function createTsKernels(): Kernels {
  return {
    name: 'ts',
    alloc: (length) => new Float32Array(length),
    allocInt8: (length) => new Int8Array(length),
    free: () => {},
    gemm: gemmRef,
    gemmTN: gemmTNRef,
    gemmNT: gemmNTRef,
    linear: linearRef,
    linearT: linearTRef,
    linearGradInput: linearGradInputRef,
    linearInt8: linearInt8Ref,
    linearInt8T: linearInt8TRef,
    packInt8T: (n, k, q) => int8PairRows(n, k, q),
    sgdUpdate: sgdUpdateRef,
    adamUpdate: adamUpdateRef,
  };
}
