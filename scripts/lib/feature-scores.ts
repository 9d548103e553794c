/**
 * @module
 * Scores of the feature-distance experiment (`scripts/experiment-feature-distance.ts`, issue #13): how far a
 * feature vector lies from the digits' class-conditional Gaussians with one shared covariance, in several forms
 * (Mahalanobis in a whitened subspace, with a probabilistic-PCA residual, relative to one Gaussian of all digits;
 * on raw or unit-length features), plus the simple norms. Float64, pure. Higher = further from the digits.
 */

/** A shared-covariance fit in its eigenbasis (`fitSharedGaussians`, then `symmetricEigen` of its covariance). */
export interface Fit {
  dim: number;
  classes: number;
  mean: Float64Array;
  /** [classes×dim] */
  classMeans: Float64Array;
  /** Eigenvalues of the shared covariance, largest first. */
  values: Float64Array;
  /** Their eigenvectors, one row each [dim×dim]. */
  vectors: Float64Array;
  counts: number[];
}

/** A score of row `i` of features [n×dim]: higher = further from the digits. */
export type Score = (h: Float32Array, i: number) => number;

/** Rows of `features` scaled to unit length (a copy). */
export function normalised(features: Float32Array, F: number): Float32Array {
  const out = new Float32Array(features.length);
  for (let i = 0; i < features.length; i += F) {
    let n = 0;
    for (let j = 0; j < F; j++) n += features[i + j] ** 2;
    const inv = 1 / Math.sqrt(Math.max(n, 1e-24));
    for (let j = 0; j < F; j++) out[i + j] = features[i + j] * inv;
  }
  return out;
}

/** Solves the k×k symmetric positive definite system's inverse by Gauss-Jordan (small k). */
export function inverse(a: Float64Array, k: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(k * k);
  for (let i = 0; i < k; i++) inv[i * k + i] = 1;
  for (let c = 0; c < k; c++) {
    const p = m[c * k + c];
    for (let j = 0; j < k; j++) {
      m[c * k + j] /= p;
      inv[c * k + j] /= p;
    }
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = m[r * k + c];
      if (f === 0) continue;
      for (let j = 0; j < k; j++) {
        m[r * k + j] -= f * m[c * k + j];
        inv[r * k + j] -= f * inv[c * k + j];
      }
    }
  }
  return inv;
}

/**
 * Distances in the whitened top-`k` subspace of `fit` (z = Λ_k^-½ U_kᵀ (h − m)): `md` the Mahalanobis distance to
 * the nearest class, `rmd` that minus the distance under one Gaussian of all digits (Ren et al., 2021: relative
 * Mahalanobis), `residual` adds the squared distance outside the subspace over the mean dropped eigenvalue.
 */
export function subspace(fit: Fit, k: number, kind: 'md' | 'rmd', residual = false, unitRows = false): Score {
  const { dim: F, classes: C } = fit;
  const lambda = fit.values.map((v) => Math.max(v, 1e-9));
  const rest = residual ? lambda.slice(k).reduce((a, b) => a + b, 0) / (F - k) : 0;
  const P = new Float64Array(k * F);
  for (let a = 0; a < k; a++)
    for (let j = 0; j < F; j++) P[a * F + j] = fit.vectors[a * F + j] / Math.sqrt(lambda[a]);
  const U = fit.vectors;
  const total = fit.counts.reduce((a, b) => a + b, 0);
  const nu = new Float64Array(C * k);
  const nuRaw = new Float64Array(C * k);
  for (let c = 0; c < C; c++) {
    for (let a = 0; a < k; a++) {
      let s = 0;
      let r = 0;
      for (let j = 0; j < F; j++) {
        const d = fit.classMeans[c * F + j] - fit.mean[j];
        s += P[a * F + j] * d;
        r += U[a * F + j] * d;
      }
      nu[c * k + a] = s;
      nuRaw[c * k + a] = r;
    }
  }
  // total covariance of z: I + Σ π_c ν_c ν_cᵀ
  const B = new Float64Array(k * k);
  for (let a = 0; a < k; a++) B[a * k + a] = 1;
  for (let c = 0; c < C; c++) {
    const pi = fit.counts[c] / total;
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++) B[a * k + b] += pi * nu[c * k + a] * nu[c * k + b];
  }
  const Binv = inverse(B, k);
  const z = new Float64Array(k);
  const zr = new Float64Array(k);
  const d = new Float64Array(F);
  return (h, i) => {
    let norm = 1;
    if (unitRows) {
      norm = 0;
      for (let j = 0; j < F; j++) norm += h[i * F + j] ** 2;
      norm = 1 / Math.sqrt(Math.max(norm, 1e-24));
    }
    for (let j = 0; j < F; j++) d[j] = h[i * F + j] * norm - fit.mean[j];
    for (let a = 0; a < k; a++) {
      let s = 0;
      let r = 0;
      for (let j = 0; j < F; j++) {
        s += P[a * F + j] * d[j];
        r += U[a * F + j] * d[j];
      }
      z[a] = s;
      zr[a] = r;
    }
    let best = Infinity;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let a = 0; a < k; a++) s += (z[a] - nu[c * k + a]) ** 2;
      if (rest > 0) {
        let full = 0;
        let inside = 0;
        for (let j = 0; j < F; j++) full += (d[j] - (fit.classMeans[c * F + j] - fit.mean[j])) ** 2;
        for (let a = 0; a < k; a++) inside += (zr[a] - nuRaw[c * k + a]) ** 2;
        s += Math.max(0, full - inside) / rest;
      }
      best = Math.min(best, s);
    }
    if (kind === 'rmd') {
      let bg = 0;
      for (let a = 0; a < k; a++) {
        let s = 0;
        for (let b = 0; b < k; b++) s += Binv[a * k + b] * z[b];
        bg += z[a] * s;
      }
      best -= bg;
    }
    return best;
  };
}

/** Euclidean distance to the nearest class mean over the feature norm. */
export const relativeNearestMean =
  (fit: Fit): Score =>
  (h, i) => {
    const { dim: F, classes: C } = fit;
    let best = Infinity;
    let norm = 0;
    for (let j = 0; j < F; j++) norm += h[i * F + j] ** 2;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let j = 0; j < F; j++) s += (h[i * F + j] - fit.classMeans[c * F + j]) ** 2;
      best = Math.min(best, s);
    }
    return Math.sqrt(best / Math.max(norm, 1e-12));
  };
/** Small features: what outlier exposure makes of non-digits. */
export const smallNorm =
  (F: number): Score =>
  (h, i) => {
    let norm = 0;
    for (let j = 0; j < F; j++) norm += h[i * F + j] ** 2;
    return -Math.sqrt(norm);
  };
