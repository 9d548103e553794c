/**
 * @module
 * Whether an answer can be trusted: one verdict per image, `confident`, `uncertain` (the top two too close, or
 * the confidence under the threshold), `not_a_digit` (the network's probabilities are spread over many classes:
 * what outlier exposure taught it to do on non-digits) or `blank` (no ink to read). Also the model's temperature
 * applied to its probabilities. Pure (typed arrays and Math only); the worker and the benchmarks share it.
 */
import { inkExtent, toGray, toInk, type InkExtent, type RasterImage } from './preprocess.ts';

export const VERDICTS = ['confident', 'uncertain', 'not_a_digit', 'blank'] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface VerdictPolicy {
  /** A digit is `confident` when its calibrated probability is at least this, in (0, 1]. */
  minConfidence: number;
  /** … and it leads the runner-up by at least this much. */
  minMargin: number;
  /** Below this much probability in the top two classes the image is `not_a_digit`, not an unsure digit. */
  minTopTwo: number;
}

/** Measured on MNIST validation digits and generated non-digits (docs/benchmarks.md, "Knowing when it does not know"). */
export const DEFAULT_POLICY: VerdictPolicy = { minConfidence: 0.9, minMargin: 0.2, minTopTwo: 0.7 };

/** An image holding less ink than this fraction of its area (a speck, stray pixels) is blank. MNIST's least: 2.5%. */
export const BLANK_INK = 0.005;
/** … or whose ink fits in a box this fraction of its larger side (a pen tap). */
export const BLANK_EXTENT = 0.1;

export interface Judgement {
  verdict: Verdict;
  /** The most probable class; null for `blank`. */
  digit: number | null;
  /** Its calibrated probability; null for `blank`. */
  confidence: number | null;
  /** Its lead over the runner-up; null for `blank`. */
  margin: number | null;
}

/**
 * How much ink the image holds, as the preprocessing sees it (paper removed, inverted when light): `mass` as a
 * fraction of the area, `extent` the ink's bounding box's larger side as a fraction of the image's.
 */
export function inkStats(image: RasterImage): { mass: number; extent: number } {
  // The preprocessing's own ink (its noise floor and speck removal included), so the two never disagree.
  return inkStatsOf(toInk(toGray(image), image.width, image.height), image.width, image.height);
}

/** `inkStats` from an ink map made by `toInk` (shared with `preprocessInk`, so it is made once per image). */
export function inkStatsOf(
  ink: Float32Array,
  width: number,
  height: number,
): { mass: number; extent: number } {
  return inkStatsOfExtent(inkExtent(ink, width, height), width, height);
}

/** `inkStats` from where the ink lies (`inkExtent`, or `toInkInto`'s answer while it made the map). */
function inkStatsOfExtent(
  { x0, y0, x1, y1, mass }: InkExtent,
  width: number,
  height: number,
): { mass: number; extent: number } {
  const extent = x1 < 0 ? 0 : Math.max(x1 - x0 + 1, y1 - y0 + 1) / Math.max(width, height);
  return { mass: mass / (width * height), extent };
}

/** No ink to read a digit from: an empty canvas, paper, faint noise, a few stray pixels, a pen tap. */
export function isBlank(image: RasterImage): boolean {
  return isBlankInk(toInk(toGray(image), image.width, image.height), image.width, image.height);
}

/** `isBlank` from the image's ink map (`toInk(toGray(image), …)`). */
export function isBlankInk(ink: Float32Array, width: number, height: number): boolean {
  return isBlankExtent(inkExtent(ink, width, height), width, height);
}

/** `isBlank` from where the image's ink lies (`toInkInto`'s answer), without another pass over the map. */
export function isBlankExtent(ink: InkExtent, width: number, height: number): boolean {
  const { mass, extent } = inkStatsOfExtent(ink, width, height);
  return mass < BLANK_INK || extent < BLANK_EXTENT;
}

/** `applyTemperature`'s logarithms of one row, reused from call to call (it is synchronous). */
let logScratch = new Float64Array(16);

/**
 * Temperature scaling in place: each row of `probs` [rows×classes] becomes softmax(logits / T), computed from
 * the probabilities (softmax(z)^(1/T), renormalised: the same thing). T = 1 leaves them as they are.
 */
export function applyTemperature(probs: Float32Array, classes: number, temperature: number): Float32Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new RangeError(`temperature must be a finite number > 0, got ${temperature}`);
  }
  if (temperature === 1) return probs;
  const inv = 1 / temperature;
  if (logScratch.length < classes) logScratch = new Float64Array(classes);
  const logs = logScratch;
  for (let row = 0; row < probs.length; row += classes) {
    let max = -Infinity;
    for (let j = 0; j < classes; j++) {
      logs[j] = Math.log(probs[row + j]);
      max = Math.max(max, logs[j]);
    }
    let sum = 0;
    for (let j = 0; j < classes; j++) {
      const v = Math.exp((logs[j] - max) * inv);
      probs[row + j] = v;
      sum += v;
    }
    for (let j = 0; j < classes; j++) probs[row + j] /= sum;
  }
  return probs;
}

/** The verdict on one image's calibrated probabilities (call `isBlank` on the image first). */
export function judge(probs: ArrayLike<number>, policy: VerdictPolicy = DEFAULT_POLICY): Judgement {
  let first = 0;
  let second = -1;
  for (let j = 1; j < probs.length; j++) {
    if (probs[j] > probs[first]) {
      second = first;
      first = j;
    } else if (second < 0 || probs[j] > probs[second]) second = j;
  }
  const confidence = probs[first];
  const runnerUp = second < 0 ? 0 : probs[second];
  const margin = confidence - runnerUp;
  let verdict: Verdict = 'confident';
  if (confidence + runnerUp < policy.minTopTwo) verdict = 'not_a_digit';
  else if (confidence < policy.minConfidence || margin < policy.minMargin) verdict = 'uncertain';
  return { verdict, digit: first, confidence, margin };
}

/** The `blank` judgement. */
export const BLANK: Judgement = { verdict: 'blank', digit: null, confidence: null, margin: null };

/** Checks a per-request or configured confidence threshold: a number in (0, 1]. */
export function isConfidenceThreshold(v: unknown): v is number {
  return typeof v === 'number' && v > 0 && v <= 1;
}
