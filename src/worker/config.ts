/**
 * @module
 * The worker's settings, read from `wrangler.toml` vars (and the `FINE_TUNE_TOKEN` secret) with safe defaults.
 * Not validation of requests (see `schemas.ts`): these bound what the schemas allow.
 */
import { MAX_EXAMPLES, MAX_PREDICT_BATCH, MAX_STEPS } from './schemas.ts';

/** The bindings the worker reads; vars arrive as strings, the secret may be absent. */
export type Bindings = {
  MODELS: R2Bucket;
  MODEL_PREFIX?: string;
  MODEL_REVALIDATE_SECONDS?: string;
  CORS_ALLOWED_ORIGINS?: string;
  PREDICT_MAX_BATCH?: string;
  FINE_TUNE_MAX_EXAMPLES?: string;
  FINE_TUNE_MAX_STEPS?: string;
  FINE_TUNE_MAX_WORK?: string;
  GUARD_MAX_ACCURACY_DROP?: string;
  FINE_TUNE_TOKEN?: string;
};

export interface Config {
  prefix: string;
  revalidateMs: number;
  /** `*` or exact origins. */
  corsOrigins: string[];
  predictMaxBatch: number;
  fineTuneMaxExamples: number;
  fineTuneMaxSteps: number;
  /** Ceiling on examples × steps, the CPU a fine-tune may spend. */
  fineTuneMaxWork: number;
  /** The largest drop of check-set accuracy (0-1) a fine-tune may cause and still be saved. */
  guardMaxDrop: number;
}

export const DEFAULT_FINE_TUNE_MAX_WORK = 2048;

function num(value: string | undefined, fallback: number, min: number, max: number): number {
  const n = value === undefined || value.trim() === '' ? NaN : Number(value);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

export function readConfig(env: Bindings): Config {
  return {
    prefix: env.MODEL_PREFIX ?? 'models/',
    revalidateMs: num(env.MODEL_REVALIDATE_SECONDS, 5, 0, 3600) * 1000,
    corsOrigins: (env.CORS_ALLOWED_ORIGINS ?? '*')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    predictMaxBatch: Math.floor(num(env.PREDICT_MAX_BATCH, MAX_PREDICT_BATCH, 1, MAX_PREDICT_BATCH)),
    fineTuneMaxExamples: Math.floor(num(env.FINE_TUNE_MAX_EXAMPLES, MAX_EXAMPLES, 1, MAX_EXAMPLES)),
    fineTuneMaxSteps: Math.floor(num(env.FINE_TUNE_MAX_STEPS, MAX_STEPS, 1, MAX_STEPS)),
    fineTuneMaxWork: Math.floor(
      num(env.FINE_TUNE_MAX_WORK, DEFAULT_FINE_TUNE_MAX_WORK, 1, MAX_EXAMPLES * MAX_STEPS),
    ),
    guardMaxDrop: num(env.GUARD_MAX_ACCURACY_DROP, 0.02, 0, 1),
  };
}
