/**
 * @module
 * McNemar's exact test for two models scored on the same images: only the images where exactly one of them is
 * right carry information, and under "equally accurate" each such image is a fair coin. Used by
 * `eval-robustness` to say whether a row's difference between two models is more than sampling noise.
 */

/** The discordant pairs of two models on the same images and the exact two-sided p-value. */
export interface PairedComparison {
  /** Images the second model gets right and the first gets wrong. */
  gained: number;
  /** Images the first model gets right and the second gets wrong. */
  lost: number;
  /** P(a split at least this uneven | each discordant image a fair coin), two-sided, capped at 1. */
  p: number;
}

/** Compares `second` with `first`, per-image correctness (1 right, 0 wrong) of the same images in the same order. */
export function mcnemar(first: ArrayLike<number>, second: ArrayLike<number>): PairedComparison {
  if (first.length !== second.length) {
    throw new RangeError(`mcnemar: ${first.length} against ${second.length} images`);
  }
  let gained = 0;
  let lost = 0;
  for (let i = 0; i < first.length; i++) {
    if (second[i] && !first[i]) gained++;
    else if (first[i] && !second[i]) lost++;
  }
  return { gained, lost, p: binomialTwoSided(Math.min(gained, lost), gained + lost) };
}

/** 2 · P(X ≤ k) for X ~ Binomial(n, ½), capped at 1 (1 when n = 0), summed in log space so large n stay exact. */
export function binomialTwoSided(k: number, n: number): number {
  if (n === 0) return 1;
  // log C(n, i) built up term by term: C(n, i) = C(n, i − 1) · (n − i + 1) / i.
  let logC = 0;
  const logHalfN = n * Math.log(0.5);
  let sum = Math.exp(logHalfN);
  for (let i = 1; i <= k; i++) {
    logC += Math.log(n - i + 1) - Math.log(i);
    sum += Math.exp(logC + logHalfN);
  }
  return Math.min(1, 2 * sum);
}
