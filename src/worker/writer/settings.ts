/**
 * @module
 * The feedback settings, read from `wrangler.toml` vars with safe defaults (the same as there), and the one
 * Durable Object stub per model lineage, and the one way the worker calls it (`callWriter`). Not the worker's other
 * limits (see `../config.ts`).
 */
import type { Bindings } from '../config.ts';
import { ApiError } from '../errors.ts';
import type { PendingCaps, ReviewPolicy } from './policy.ts';
import type { ModelWriter } from './model-writer.ts';
import { STEP_ROWS } from '../../nn/fine-tune-update.ts';

/** Corrections one client may post per period; must equal `simple.limit` of `FEEDBACK_LIMITER`. */
export const FEEDBACK_RATE_LIMIT = 60;
/** The period in seconds; must equal `simple.period` of `FEEDBACK_LIMITER`. */
export const FEEDBACK_RATE_PERIOD_SECONDS = 60;
/** Largest feedback body: one image as JSON numbers (28×28 at `0-1` with many digits), a PNG or a form. */
export const MAX_FEEDBACK_BODY = 256 * 1024;
/** Hard ceiling on the examples of one apply (its memory: activations of the whole batch). */
export const MAX_APPLY_EXAMPLES = 1024;
/** Replay rows per correction in an apply (when the model has a replay set; see apply.ts). */
export const APPLY_REPLAY = 2;
/** Hard ceiling on the work of one apply (rows through the network, replay included: its CPU, ~5 s at 8192). */
export const MAX_APPLY_WORK = 16384;

export interface FeedbackSettings {
  caps: PendingCaps;
  review: ReviewPolicy;
  /** `FEEDBACK_APPLY_MAX_EXAMPLES`, lowered to the apply's work ceiling when that is smaller. */
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
  const applyMaxWork = Math.floor(num(e.FEEDBACK_APPLY_MAX_WORK, 8192, STEP_ROWS, MAX_APPLY_WORK));
  return {
    caps: {
      perClient: Math.floor(num(e.FEEDBACK_MAX_PENDING_PER_CLIENT, 50, 1, 100_000)),
      perLabel: Math.floor(num(e.FEEDBACK_MAX_PENDING_PER_LABEL, 500, 1, 100_000)),
    },
    review: {
      confident: num(e.FEEDBACK_CONFIDENT, 0.95, 0, 1),
      maxDisagreement: num(e.FEEDBACK_MAX_DISAGREEMENT, 0.5, 0, 1),
    },
    // At most the work ceiling, as FINE_TUNE_MAX_EXAMPLES (config.ts): one epoch of a full batch always fits.
    applyMaxExamples: Math.min(
      applyMaxWork,
      Math.floor(num(e.FEEDBACK_APPLY_MAX_EXAMPLES, 1024, 1, MAX_APPLY_EXAMPLES)),
    ),
    applyMaxWork,
    autoApplyMin: Math.floor(num(e.FEEDBACK_AUTO_APPLY_MIN, 0, 0, MAX_APPLY_EXAMPLES)),
  };
}

/** The writer of the lineage stored under `prefix`: one Durable Object per prefix. */
export function writerOf(env: Bindings, prefix: string): DurableObjectStub<ModelWriter> {
  const ns = env.MODEL_WRITER as DurableObjectNamespace<ModelWriter>;
  return ns.get(ns.idFromName(prefix));
}

/** Seconds a caller is asked to wait after the writer failed under it. */
export const WRITER_RETRY_SECONDS = 1;

/**
 * Runs one call to the lineage's writer. The writer answers refusals as values (`unwrap` throws them); what is
 * thrown here is the object failing under the call: reset or evicted while the call waited in its queue or ran,
 * overloaded, or a write that threw. That is a 503 `writer_unavailable` with Retry-After, never a 500. A write
 * that was already running may still have been published: its write intent is concluded from the pointer when
 * the object restarts, so an apply's corrections are consumed once or stay pending, never both.
 * @throws {ApiError} 503 `writer_unavailable`; whatever `call` throws as an `ApiError`.
 */
export async function callWriter<T>(
  env: Bindings,
  prefix: string,
  call: (writer: DurableObjectStub<ModelWriter>) => Promise<T>,
): Promise<T> {
  try {
    return await call(writerOf(env, prefix));
  } catch (err) {
    if (err instanceof ApiError) throw err;
    const e = err as { message?: string; durableObjectReset?: boolean; overloaded?: boolean };
    // A reset is the platform's doing (a deploy, an eviction): its message says all. Anything else is a bug.
    if (e.durableObjectReset) console.warn(`model writer reset under a call: ${e.message}`);
    else console.error('model writer call failed', err);
    const why = e.durableObjectReset
      ? 'was reset while this request waited for it or ran'
      : e.overloaded
        ? 'is overloaded'
        : 'failed while handling this request';
    throw new ApiError(
      503,
      'writer_unavailable',
      `the model writer of this lineage ${why}; retry in ${WRITER_RETRY_SECONDS} s. The model is never ` +
        'half-written: a write that had not started was not made, one under way was published whole or not at ' +
        'all (GET /model shows the history)',
      {
        reset: e.durableObjectReset === true,
        overloaded: e.overloaded === true,
        retryAfterSeconds: WRITER_RETRY_SECONDS,
      },
      { 'Retry-After': String(WRITER_RETRY_SECONDS) },
    );
  }
}
