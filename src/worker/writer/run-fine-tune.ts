/**
 * @module
 * One guarded fine-tune of the current model, saved as a new version: the workflow the model writer runs for
 * `/fine-tune` and for an apply of feedback. Read the pointer, train on the current weights, check the guard,
 * store the blob, compare-and-swap the pointer (a lost race can only be to a writer outside the model writer,
 * e.g. the publish script; it is retried on the new weights).
 */
import type { z } from '@hono/zod-openapi';
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import { fineTune, type FineTuneSettings } from '../fine-tune.ts';
import {
  getCheckSet,
  invalidate,
  knownCheckAccuracy,
  loadModel,
  rememberCheckAccuracy,
} from '../model-cache.ts';
import { advancePointer, type ModelStore } from '../model-store.ts';
import type { FineTuneResponse } from '../schemas.ts';

/** Lost compare-and-swap races (to writers outside the model writer) retried before answering 409. */
export const FINE_TUNE_ATTEMPTS = 3;

export interface FineTuneJob {
  /** [count×784] pixels in [0,1]. */
  x: Float32Array;
  labels: Uint8Array;
  count: number;
  settings: FineTuneSettings;
  dryRun: boolean;
}

export type FineTuneAnswer = z.infer<typeof FineTuneResponse>;

/**
 * @throws {ApiError} 503 `no_model` before any model was published, 422 `guard_refused` when check-set accuracy
 *   falls by more than the margin, 409 `conflict` after `FINE_TUNE_ATTEMPTS` lost races.
 */
export async function runFineTune(store: ModelStore, job: FineTuneJob, cfg: Config): Promise<FineTuneAnswer> {
  const { x, labels, count: n, settings } = job;
  for (let attempt = 1; attempt <= FINE_TUNE_ATTEMPTS; attempt++) {
    const read = await store.readPointer();
    if (!read) throw new ApiError(503, 'no_model', 'no model has been published to this store yet');
    const parent = await loadModel(store, read.pointer.current);
    const meta = parent.model.metadata;
    const checkSetName = typeof meta.checkSet === 'string' ? meta.checkSet : null;
    const checkSet = checkSetName ? await getCheckSet(store, checkSetName) : null;
    const { bytes, before, after, check } = fineTune({
      parent: parent.model,
      parentVersion: parent.version,
      x,
      labels,
      count: n,
      settings,
      checkSet,
      parentCheckAccuracy: knownCheckAccuracy(store.prefix, parent.version),
    });
    let guard: FineTuneAnswer['guard'] = null;
    if (check && checkSet && checkSetName) {
      rememberCheckAccuracy(store.prefix, parent.version, check.parent);
      guard = {
        checkSet: checkSetName,
        size: checkSet.count,
        parentAccuracy: check.parent,
        accuracy: check.child,
        maxDrop: cfg.guardMaxDrop,
        // A small epsilon so a drop of exactly the margin passes despite float rounding.
        passed: check.parent - check.child <= cfg.guardMaxDrop + 1e-9,
      };
      if (!guard.passed) {
        throw new ApiError(
          422,
          'guard_refused',
          `the fine-tune lowers check-set accuracy from ${check.parent.toFixed(4)} to ${check.child.toFixed(4)}, ` +
            `more than the allowed ${cfg.guardMaxDrop}; nothing was saved`,
          { guard, before, after, parentVersion: parent.version },
        );
      }
    }
    const answer: FineTuneAnswer = {
      dryRun: job.dryRun,
      version: null,
      parentVersion: parent.version,
      examples: n,
      steps: settings.steps,
      before,
      after,
      guard,
      attempts: attempt,
    };
    if (job.dryRun) return answer;

    const version = await store.putVersion(bytes, { source: 'fine-tune', parent: parent.version });
    const next = advancePointer(read.pointer, version, parent.version, 'fine-tune');
    const swapped = await store.pointOrDelete(version, () => store.swapPointer(read.etag, next));
    if (swapped !== null) {
      invalidate(store.prefix);
      if (check) rememberCheckAccuracy(store.prefix, version, check.child);
      return { ...answer, version };
    }
    // A writer outside the model writer moved the pointer since we read it: drop our blob, retrain on the new weights.
    await store.deleteVersion(version);
  }
  throw new ApiError(409, 'conflict', `the model changed during ${FINE_TUNE_ATTEMPTS} attempts; retry later`);
}
