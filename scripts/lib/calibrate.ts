/**
 * @module
 * Calibration at training time: the temperature (Guo et al., 2017) that minimises the validation split's negative
 * log-likelihood, and the measures the model card and the benchmarks report (expected calibration error over 15
 * equal-width confidence bins, NLL). Works on probabilities as the served model gives them. No file system here.
 */
import { applyTemperature } from '../../src/data/verdict.ts';

export const ECE_BINS = 15;
const CLASSES = 10;
/** Probabilities are floored here before the log, so a wrong answer at p = 0 costs a finite amount. */
const FLOOR = 1e-12;

/** Mean negative log-likelihood of the labels under `probs` [count×10]. */
export function negativeLogLikelihood(probs: Float32Array, labels: ArrayLike<number>): number {
  const count = labels.length;
  let sum = 0;
  for (let i = 0; i < count; i++) sum -= Math.log(Math.max(FLOOR, probs[i * CLASSES + labels[i]]));
  return sum / count;
}

/**
 * Expected calibration error: |accuracy − mean confidence| of each of `bins` equal-width bins of the top
 * probability, weighted by the share of examples in the bin.
 */
export function expectedCalibrationError(
  probs: Float32Array,
  labels: ArrayLike<number>,
  bins = ECE_BINS,
): number {
  const count = labels.length;
  const n = new Float64Array(bins);
  const conf = new Float64Array(bins);
  const hits = new Float64Array(bins);
  for (let i = 0; i < count; i++) {
    let arg = 0;
    for (let j = 1; j < CLASSES; j++) if (probs[i * CLASSES + j] > probs[i * CLASSES + arg]) arg = j;
    const p = probs[i * CLASSES + arg];
    // Bins (k/B, (k+1)/B]; a confidence of exactly 0 (impossible for a top class) would go to the first.
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(p * bins) - 1));
    n[b]++;
    conf[b] += p;
    if (arg === labels[i]) hits[b]++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (n[b] > 0) ece += Math.abs(hits[b] - conf[b]) / count;
  return ece;
}

/** Mean top probability of rows without labels (non-digits): how sure the model is of answers that are all wrong. */
export function meanTopProbability(probs: Float32Array): number {
  let sum = 0;
  const count = probs.length / CLASSES;
  for (let i = 0; i < count; i++) {
    let top = 0;
    for (let j = 0; j < CLASSES; j++) top = Math.max(top, probs[i * CLASSES + j]);
    sum += top;
  }
  return sum / count;
}

/** `probs` at temperature `t`, as a new array. */
export function atTemperature(probs: Float32Array, t: number): Float32Array {
  return applyTemperature(probs.slice(), CLASSES, t);
}

/**
 * The temperature in [0.05, 20] with the least NLL on these labelled probabilities (golden-section search on
 * log T; the NLL of temperature scaling is convex in 1/T). Returned to 4 significant digits.
 */
export function fitTemperature(probs: Float32Array, labels: ArrayLike<number>): number {
  const cost = (logT: number) => negativeLogLikelihood(atTemperature(probs, Math.exp(logT)), labels);
  let lo = Math.log(0.05);
  let hi = Math.log(20);
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = hi - phi * (hi - lo);
  let b = lo + phi * (hi - lo);
  let fa = cost(a);
  let fb = cost(b);
  while (hi - lo > 1e-4) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - phi * (hi - lo);
      fa = cost(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + phi * (hi - lo);
      fb = cost(b);
    }
  }
  return Number(Math.exp((lo + hi) / 2).toPrecision(4));
}

export interface CalibrationReport {
  method: 'temperature';
  temperature: number;
  /** On the validation split the temperature was fitted on, before and after. */
  validation: { count: number; nllBefore: number; nllAfter: number; eceBefore: number; eceAfter: number };
}

/** Fits the temperature on validation probabilities and reports what it changed. */
export function calibrate(probs: Float32Array, labels: ArrayLike<number>): CalibrationReport {
  const temperature = fitTemperature(probs, labels);
  const after = atTemperature(probs, temperature);
  const r = (v: number) => Number(v.toFixed(5));
  return {
    method: 'temperature',
    temperature,
    validation: {
      count: labels.length,
      nllBefore: r(negativeLogLikelihood(probs, labels)),
      nllAfter: r(negativeLogLikelihood(after, labels)),
      eceBefore: r(expectedCalibrationError(probs, labels)),
      eceAfter: r(expectedCalibrationError(after, labels)),
    },
  };
}
