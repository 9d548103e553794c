/**
 * @module
 * The verdict on each answer of `/predict`: the serving model's probabilities at its calibrated temperature,
 * judged against the request's (or the deployment's) confidence threshold; blank input is named blank before the
 * network is asked. The rules live in `src/data/verdict.ts`; this is their use by the worker.
 */
import {
  applyTemperature,
  DEFAULT_POLICY,
  isConfidenceThreshold,
  judge,
  type Verdict,
} from '../data/verdict.ts';
import type { ModelMetadata } from '../format/index.ts';
import { DIGIT_CLASSES } from '../nn/classify.ts';

export interface VerdictPrediction {
  verdict: Verdict;
  /** The most probable digit; null for blank input. */
  digit: number | null;
  /** Its calibrated probability; null for blank input. */
  confidence: number | null;
  /** The ten calibrated probabilities; null for blank input. */
  probabilities: number[] | null;
}

/** The model's calibration temperature (1 for a blob without one). */
export function temperatureOf(metadata: ModelMetadata): number {
  const t = metadata.calibration?.temperature;
  return typeof t === 'number' && t > 0 && Number.isFinite(t) ? t : 1;
}

/** The deployment's default threshold from its `MIN_CONFIDENCE` var; the built-in default when unset or bad. */
export function defaultMinConfidence(value: string | undefined): number {
  const v = value === undefined || value.trim() === '' ? NaN : Number(value);
  return isConfidenceThreshold(v) ? v : DEFAULT_POLICY.minConfidence;
}

/**
 * One verdict per row of `probs` [count×10] (changed in place to the calibrated probabilities); rows whose
 * `blank[i]` is set are answered blank whatever the network said.
 */
export function toVerdictPredictions(
  probs: Float32Array,
  count: number,
  options: { temperature: number; minConfidence: number; blank?: readonly boolean[] },
): VerdictPrediction[] {
  applyTemperature(probs, DIGIT_CLASSES, options.temperature);
  const policy = { ...DEFAULT_POLICY, minConfidence: options.minConfidence };
  const out: VerdictPrediction[] = [];
  for (let i = 0; i < count; i++) {
    if (options.blank?.[i]) {
      out.push({ verdict: 'blank', digit: null, confidence: null, probabilities: null });
      continue;
    }
    const row = probs.subarray(i * DIGIT_CLASSES, (i + 1) * DIGIT_CLASSES);
    const j = judge(row, policy);
    out.push({
      verdict: j.verdict,
      digit: j.digit,
      confidence: j.confidence,
      probabilities: Array.from(row),
    });
  }
  return out;
}
