/**
 * @module
 * The `/fine-tune` workflow: the limits, then up to `FINE_TUNE_ATTEMPTS` rounds of read the pointer, load the
 * parent and its check set, train (`fine-tune.ts`), ask the guard (`guard.ts`), store the child and move the
 * pointer by compare-and-swap; a lost race retrains on the winner's weights. Every refusal is a `FineTuneError`
 * with its own code, thrown before anything is stored. Not HTTP: the route validates and answers.
 */
import type { Config } from './config.ts';
import { ApiError } from './errors.ts';
import { fineTune, TrainingDivergedError, type FineTuneSettings, type Score } from './fine-tune.ts';
import { guardVerdict, type GuardVerdict } from './guard.ts';
import {
  getCheckSet,
  invalidate,
  knownCheckAccuracy,
  loadModel,
  rememberCheckAccuracy,
} from './model-cache.ts';
import { advancePointer, type ModelStore } from './model-store.ts';

/** Lost compare-and-swap races a fine-tune retries on the new weights before answering 409. */
export const FINE_TUNE_ATTEMPTS = 3;

/** Why a fine-tune was refused; each maps to one HTTP status (see `FINE_TUNE_STATUS`). Nothing was stored. */
export type FineTuneErrorCode =
  'limit_exceeded' | 'no_model' | 'training_diverged' | 'guard_refused' | 'conflict';

export const FINE_TUNE_STATUS = {
  limit_exceeded: 400,
  no_model: 503,
  training_diverged: 422,
  guard_refused: 422,
  conflict: 409,
} as const satisfies Record<FineTuneErrorCode, number>;

/** A refused fine-tune: its `code` says why, and fixes its status, so `onError` renders it like any `ApiError`. */
export class FineTuneError extends ApiError {
  override readonly name = 'FineTuneError';
  constructor(
    override readonly code: FineTuneErrorCode,
    message: string,
    details: Record<string, unknown> | null = null,
  ) {
    super(FINE_TUNE_STATUS[code], code, message, details);
  }
}

/** A validated fine-tune: pixels already scaled to [0, 1]. */
export interface FineTuneJob {
  /** [count×784] pixels in [0, 1]. */
  x: Float32Array;
  labels: Uint8Array;
  settings: FineTuneSettings;
  dryRun: boolean;
}

export interface FineTuneOutcome {
  dryRun: boolean;
  /** The saved version; null on a dry run. */
  version: string | null;
  parentVersion: string;
  examples: number;
  steps: number;
  before: Score;
  after: Score;
  guard: GuardVerdict | null;
  attempts: number;
}

/**
 * @throws {FineTuneError} `limit_exceeded` past the deployment's examples, steps or examples × steps ceilings.
 */
export function checkFineTuneLimits(count: number, steps: number, cfg: Config): void {
  const over: string[] = [];
  if (count > cfg.fineTuneMaxExamples) over.push(`at most ${cfg.fineTuneMaxExamples} examples`);
  if (steps > cfg.fineTuneMaxSteps) over.push(`at most ${cfg.fineTuneMaxSteps} steps`);
  if (count * steps > cfg.fineTuneMaxWork) over.push(`examples × steps at most ${cfg.fineTuneMaxWork}`);
  if (over.length) {
    throw new FineTuneError('limit_exceeded', `fine-tune too large: ${over.join('; ')}`, {
      examples: count,
      steps,
      maxExamples: cfg.fineTuneMaxExamples,
      maxSteps: cfg.fineTuneMaxSteps,
      maxWork: cfg.fineTuneMaxWork,
    });
  }
}

/**
 * Fine-tunes the current model and, unless a dry run, saves the child as a new version and makes it current.
 * @throws {FineTuneError} `limit_exceeded`, `no_model`, `training_diverged` (with the step), `guard_refused`
 *   (with the figures), `conflict` after `FINE_TUNE_ATTEMPTS` lost races; {ApiError} 503 when the parent or its
 *   check set cannot be read.
 */
export async function runFineTune(
  store: ModelStore,
  cfg: Config,
  job: FineTuneJob,
): Promise<FineTuneOutcome> {
  const count = job.labels.length;
  checkFineTuneLimits(count, job.settings.steps, cfg);
  for (let attempt = 1; attempt <= FINE_TUNE_ATTEMPTS; attempt++) {
    const read = await store.readPointer();
    if (!read) throw new FineTuneError('no_model', 'no model has been published to this store yet');
    const parent = await loadModel(store, read.pointer.current);
    const checkSetName =
      typeof parent.model.metadata.checkSet === 'string' ? parent.model.metadata.checkSet : null;
    const checkSet = checkSetName ? await getCheckSet(store, checkSetName) : null;
    let result: ReturnType<typeof fineTune>;
    try {
      result = fineTune({
        parent: parent.model,
        parentVersion: parent.version,
        x: job.x,
        labels: job.labels,
        count,
        settings: job.settings,
        checkSet,
        parentCheckAccuracy: knownCheckAccuracy(store.prefix, parent.version),
      });
    } catch (err) {
      if (!(err instanceof TrainingDivergedError)) throw err;
      throw new FineTuneError(
        'training_diverged',
        `${err.message}; lower learningRate or steps. Nothing was saved`,
        {
          step: err.step,
          steps: err.steps,
          loss: String(err.loss),
          learningRate: job.settings.learningRate,
          parentVersion: parent.version,
        },
      );
    }
    const { bytes, before, after, check } = result;
    let guard: GuardVerdict | null = null;
    if (check && checkSet && checkSetName) {
      rememberCheckAccuracy(store.prefix, parent.version, check.parent);
      guard = guardVerdict({
        checkSet: checkSetName,
        size: checkSet.count,
        parentAccuracy: check.parent,
        accuracy: check.child,
        maxDrop: cfg.guardMaxDrop,
      });
      if (!guard.passed) {
        throw new FineTuneError(
          'guard_refused',
          `the fine-tune lowers check-set accuracy from ${check.parent.toFixed(4)} to ${check.child.toFixed(4)}, ` +
            `more than the allowed ${cfg.guardMaxDrop}; nothing was saved`,
          { guard, before, after, parentVersion: parent.version },
        );
      }
    }
    const outcome: FineTuneOutcome = {
      dryRun: job.dryRun,
      version: null,
      parentVersion: parent.version,
      examples: count,
      steps: job.settings.steps,
      before,
      after,
      guard,
      attempts: attempt,
    };
    if (job.dryRun) return outcome;

    const version = await store.putVersion(bytes, { source: 'fine-tune', parent: parent.version });
    const next = advancePointer(read.pointer, version, parent.version, 'fine-tune');
    const swapped = await store.pointOrDelete(version, () => store.swapPointer(read.etag, next));
    if (swapped !== null) {
      invalidate(store.prefix);
      if (check) rememberCheckAccuracy(store.prefix, version, check.child);
      return { ...outcome, version };
    }
    // Another writer moved the pointer since we read it: drop our blob and retrain on the new weights.
    await store.deleteVersion(version);
  }
  throw new FineTuneError('conflict', `the model changed during ${FINE_TUNE_ATTEMPTS} attempts; retry later`);
}
