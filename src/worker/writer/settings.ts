/**
 * @module
 * The feedback settings, read from `wrangler.toml` vars with safe defaults (the same as there), and the one
 * Durable Object stub per model lineage. Not the worker's other limits (see `../config.ts`).
 */
import type { Bindings } from '../config.ts';
import type { PendingCaps, ReviewPolicy } from './policy.ts';
import type { ModelWriter } from './model-writer.ts';

/** Corrections one client may post per period; must equal `simple.limit` of `FEEDBACK_LIMITER`. */
export const FEEDBACK_RATE_LIMIT = 60;
/** The period in seconds; must equal `simple.period` of `FEEDBACK_LIMITER`. */
export const FEEDBACK_RATE_PERIOD_SECONDS = 60;
/** Largest feedback body: one image as JSON numbers (28×28 at `0-1` with many digits), a PNG or a form. */
export const MAX_FEEDBACK_BODY = 256 * 1024;
/** Hard ceiling on the examples of one apply (its memory: activations of the whole batch). */
export const MAX_APPLY_EXAMPLES = 1024;
/** Hard ceiling on the work of one apply (rows through the network, replay included: its CPU, ~5 s at 8192). */
export const MAX_APPLY_WORK = 16384;

export interface FeedbackSettings {
  caps: PendingCaps;
  review: ReviewPolicy;
  applyMaxExamples: number;
  /** The work ceiling of one apply (in place of `FINE_TUNE_MAX_WORK`, which bounds one request). */
  applyMaxWork: number;
  /** The scheduled trigger applies once this many are pending; 0 = never. */
  autoApplyMin: number;
}

function num(value: string | undefined, fallback: number, min: number, max: number): number {
  const n = value === undefined || value.trim() === '' ? NaN : Number(value);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

export function readFeedbackSettings(env: Bindings): FeedbackSettings {
  const e = env as unknown as Record<string, string | undefined>;
  return {
    caps: {
      perClient: Math.floor(num(e.FEEDBACK_MAX_PENDING_PER_CLIENT, 50, 1, 100_000)),
      perLabel: Math.floor(num(e.FEEDBACK_MAX_PENDING_PER_LABEL, 500, 1, 100_000)),
    },
    review: {
      confident: num(e.FEEDBACK_CONFIDENT, 0.95, 0, 1),
      maxDisagreement: num(e.FEEDBACK_MAX_DISAGREEMENT, 0.5, 0, 1),
    },
    applyMaxExamples: Math.floor(num(e.FEEDBACK_APPLY_MAX_EXAMPLES, 1024, 1, MAX_APPLY_EXAMPLES)),
    applyMaxWork: Math.floor(num(e.FEEDBACK_APPLY_MAX_WORK, 8192, 1, MAX_APPLY_WORK)),
    autoApplyMin: Math.floor(num(e.FEEDBACK_AUTO_APPLY_MIN, 0, 0, MAX_APPLY_EXAMPLES)),
  };
}

/** The writer of the lineage stored under `prefix`: one Durable Object per prefix. */
export function writerOf(env: Bindings, prefix: string): DurableObjectStub<ModelWriter> {
  const ns = env.MODEL_WRITER as DurableObjectNamespace<ModelWriter>;
  return ns.get(ns.idFromName(prefix));
}
