/**
 * @module
 * Scores and measures of the not-a-digit benchmark (`npm run eval-ood`): AUROC of a digit-ness score between
 * digits and non-digits, the verdicts' shares, and the alternative scores it compares (maximum softmax
 * probability, top-two mass, energy). Pure.
 */
import { judge, type Verdict, type VerdictPolicy } from '../../src/data/verdict.ts';

const CLASSES = 10;

/**
 * Area under the ROC curve of telling `positives` (digits) from `negatives` by a score that should be higher for
 * digits: the chance that a random digit outscores a random non-digit, ties counted half (Mann-Whitney U).
 */
export function auroc(positives: ArrayLike<number>, negatives: ArrayLike<number>): number {
  const all: [number, 0 | 1][] = [];
  for (let i = 0; i < positives.length; i++) all.push([positives[i], 1]);
  for (let i = 0; i < negatives.length; i++) all.push([negatives[i], 0]);
  all.sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k][1] === 1) rankSum += rank;
    i = j;
  }
  const p = positives.length;
  const n = negatives.length;
  return (rankSum - (p * (p + 1)) / 2) / (p * n);
}

/** Per row of `probs` [count×10]: the maximum probability. */
export function maxProbability(probs: Float32Array): Float64Array {
  const out = new Float64Array(probs.length / CLASSES);
  for (let i = 0; i < out.length; i++) {
    let m = 0;
    for (let j = 0; j < CLASSES; j++) m = Math.max(m, probs[i * CLASSES + j]);
    out[i] = m;
  }
  return out;
}

/** Per row: the sum of the two largest probabilities (what the `not_a_digit` verdict reads). */
export function topTwoMass(probs: Float32Array): Float64Array {
  const out = new Float64Array(probs.length / CLASSES);
  for (let i = 0; i < out.length; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < CLASSES; j++) {
      const v = probs[i * CLASSES + j];
      if (v > a) {
        b = a;
        a = v;
      } else if (v > b) b = v;
    }
    out[i] = a + b;
  }
  return out;
}

/** Per row of `logits` [count×10]: log Σ exp(z) (the negative energy of Liu et al., 2020; higher = more digit). */
export function negativeEnergy(logits: Float32Array, temperature = 1): Float64Array {
  const out = new Float64Array(logits.length / CLASSES);
  for (let i = 0; i < out.length; i++) {
    let max = -Infinity;
    for (let j = 0; j < CLASSES; j++) max = Math.max(max, logits[i * CLASSES + j] / temperature);
    let sum = 0;
    for (let j = 0; j < CLASSES; j++) sum += Math.exp(logits[i * CLASSES + j] / temperature - max);
    out[i] = temperature * (max + Math.log(sum));
  }
  return out;
}

export interface VerdictShares {
  count: number;
  shares: Record<Exclude<Verdict, 'blank'>, number>;
  /** Digits only: the share judged `confident` whose digit is right (null without labels). */
  acceptedAccuracy: number | null;
}

/** How the verdict splits calibrated probabilities [count×10] under `policy`. */
export function verdictShares(
  probs: Float32Array,
  policy: VerdictPolicy,
  labels?: ArrayLike<number>,
): VerdictShares {
  const count = probs.length / CLASSES;
  const counts = { confident: 0, uncertain: 0, not_a_digit: 0 };
  let acceptedRight = 0;
  for (let i = 0; i < count; i++) {
    const j = judge(probs.subarray(i * CLASSES, (i + 1) * CLASSES), policy);
    counts[j.verdict as keyof typeof counts]++;
    if (j.verdict === 'confident' && labels && j.digit === labels[i]) acceptedRight++;
  }
  return {
    count,
    shares: {
      confident: counts.confident / count,
      uncertain: counts.uncertain / count,
      not_a_digit: counts.not_a_digit / count,
    },
    acceptedAccuracy: labels ? acceptedRight / Math.max(1, counts.confident) : null,
  };
}

/** What `atDigitsFlagged` reports for one share of digits flagged. */
export interface FlaggedPoint {
  /** The share of digits asked for and the score under which an image is flagged. */
  share: number;
  threshold: number;
  /** Each non-digit row's share under the threshold. */
  rows: number[];
  /** Accuracy on the digits at or above it (`labels` and `predicted` given), else null. */
  acceptedAccuracy: number | null;
}

/**
 * The threshold on a digit-ness score under which exactly `share` of the digits fall, and what it flags of each
 * non-digit row: the policy-free way to compare two models' detectors (read off the digits it is given, so on
 * test digits it is a diagnostic, not an operating point).
 */
export function atDigitsFlagged(
  share: number,
  digits: ArrayLike<number>,
  rows: readonly ArrayLike<number>[],
  labels?: ArrayLike<number>,
  predicted?: ArrayLike<number>,
): FlaggedPoint {
  const sorted = Float64Array.from(digits).sort();
  const threshold = sorted[Math.min(sorted.length - 1, Math.round(share * sorted.length))];
  const under = (xs: ArrayLike<number>) => {
    let n = 0;
    for (let i = 0; i < xs.length; i++) if (xs[i] < threshold) n++;
    return n / xs.length;
  };
  let kept = 0;
  let right = 0;
  if (labels && predicted) {
    for (let i = 0; i < digits.length; i++) {
      if (digits[i] < threshold) continue;
      kept++;
      if (predicted[i] === labels[i]) right++;
    }
  }
  return {
    share,
    threshold,
    rows: rows.map(under),
    acceptedAccuracy: labels && predicted && kept > 0 ? right / kept : null,
  };
}
