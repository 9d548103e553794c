/**
 * @module
 * The `/fine-tune` workflow with the lineage guard (issue #14), a plain async function of its inputs so that the
 * HTTP route and the model writer call it alike: resolve the settings against the limits, then up to
 * `LINEAGE_ATTEMPTS` rounds of read the pointer, load the parent, its master, check set and replay set, compute
 * (`lineage-fine-tune.ts`), decide (`lineage-guard.ts`), store master and serving copy under one version and move
 * the pointer by compare-and-swap. Every refusal is an `ApiError` thrown before anything is stored.
 */
import { MasterMismatchError } from '../format/master.ts';
import { learnsFrom, type PreparedAs } from '../format/metadata.ts';
import type { UpdateSettings } from '../nn/index.ts';
import type { Config } from './config.ts';
import { ApiError } from './errors.ts';
import { resolveFineTune, type FineTuneAsk } from './fine-tune-settings.ts';
import { getKernels } from './kernels.ts';
import {
  DivergedError,
  EmptyExampleError,
  runLineageFineTune,
  type LineageFineTuneResult,
} from './lineage-fine-tune.ts';
import { HoldOutError, type GuardBounds } from './lineage-guard.ts';
import { getCheckSet, invalidate, loadModel } from './model-cache.ts';
import { advancePointer, newVersionId, type ModelStore } from './model-store.ts';

/** Lost compare-and-swap races retried on the new weights before answering 409. */
export const LINEAGE_ATTEMPTS = 3;

export interface LineageJob {
  /** [count×784] pixels in [0, 1]. */
  x: Float32Array;
  labels: Uint8Array;
  count: number;
  ask: FineTuneAsk;
  dryRun: boolean;
  /**
   * How the examples may have been prepared (a feedback apply: `learnsFrom` of the model it chose them for). A
   * parent that learns from other inputs (the pointer moved to another recipe meanwhile) is refused, 409.
   */
  learnsFrom?: PreparedAs[];
}

/**
 * What a caller may do around the pointer swap (the model writer records and resolves its write intents here).
 * Both run synchronously, so nothing else happens between them and the swap's own awaits.
 */
export interface PublishHooks {
  /**
   * The child is about to be stored as `version` and the pointer swapped to it: the moment to record what that
   * means, before anything is written to R2.
   */
  beforeWrite?(version: string, answer: LineageAnswer): void;
  /** The swap's outcome, once known: published, or lost to another writer (called after its blob was deleted).
   * Not called when the swap or that delete threw: the outcome is then left to the caller's recovery. */
  afterSwap?(version: string, published: boolean): void;
}

/** What `/fine-tune` answers (and, with `error`, what a refusal carries in its details). */
export interface LineageAnswer {
  dryRun: boolean;
  version: string | null;
  parentVersion: string;
  rootVersion: string;
  depth: number;
  examples: number;
  trained: number;
  holdOut: number | null;
  settings: UpdateSettings;
  work: number;
  steps: number;
  start: LineageFineTuneResult['start'];
  before: LineageFineTuneResult['before'];
  after: LineageFineTuneResult['after'];
  heldOut: LineageFineTuneResult['heldOut'];
  guard: {
    passed: boolean;
    checkSet: string | null;
    size: number;
    bounds: GuardBounds;
    parent: NonNullable<LineageFineTuneResult['check']>['parent'] | null;
    root: NonNullable<LineageFineTuneResult['check']>['root'] | null;
    child: NonNullable<LineageFineTuneResult['check']>['child'] | null;
    checks: LineageFineTuneResult['verdict']['checks'];
    reasons: string[];
  };
  attempts: number;
}

export function boundsOf(cfg: Config): GuardBounds {
  return {
    maxDrop: cfg.guardMaxDrop,
    maxClassDrop: cfg.guardMaxClassDrop,
    maxLineageDrop: cfg.guardMaxLineageDrop,
    maxLineageClassDrop: cfg.guardMaxLineageClassDrop,
  };
}

/**
 * Fine-tunes the current model and, unless a dry run, saves the child and makes it current.
 * @throws {ApiError} 400 `limit_exceeded` (over a limit, or replay asked of a model without a replay set),
 *   400 `hold_out_impossible` (a held-out slice of an empty or single-class set), 422 `empty_image` (an example
 *   without ink, when the examples are prepared like `/predict` prepares them), 422 `training_diverged`,
 *   422 `guard_refused` (with every figure), 409 `conflict`, 503 when the model or its sets cannot be read.
 */
export async function fineTuneLineage(
  store: ModelStore,
  cfg: Config,
  job: LineageJob,
  hooks: PublishHooks = {},
): Promise<LineageAnswer> {
  if (job.count > cfg.fineTuneMaxExamples) {
    throw new ApiError(
      400,
      'limit_exceeded',
      `fine-tune too large: at most ${cfg.fineTuneMaxExamples} examples`,
      {
        examples: job.count,
        maxExamples: cfg.fineTuneMaxExamples,
      },
    );
  }
  const bounds = boundsOf(cfg);
  for (let attempt = 1; attempt <= LINEAGE_ATTEMPTS; attempt++) {
    const read = await store.readPointer();
    if (!read) throw new ApiError(503, 'no_model', 'no model has been published to this store yet');
    const parent = await loadModel(store, read.pointer.current);
    const meta = parent.model.metadata;
    if (job.learnsFrom && !sameSet(job.learnsFrom, learnsFrom(meta))) {
      throw new ApiError(
        409,
        'conflict',
        `the current model (${read.pointer.current}) prepares images otherwise than the one the examples were ` +
          'chosen for (the pointer moved meanwhile); nothing was applied: apply again',
      );
    }
    const checkSetName = typeof meta.checkSet === 'string' ? meta.checkSet : null;
    const replayName = typeof meta.replaySet === 'string' ? meta.replaySet : null;
    const plan = resolveFineTune(
      job.ask,
      job.count,
      { maxWork: cfg.fineTuneMaxWork, maxSteps: cfg.fineTuneMaxSteps },
      replayName !== null,
    );
    if (plan.problems.length) {
      throw new ApiError(400, 'limit_exceeded', `fine-tune refused: ${plan.problems.join('; ')}`, {
        examples: job.count,
        trained: plan.trainCount,
        work: plan.work,
        settings: plan.settings,
        maxExamples: cfg.fineTuneMaxExamples,
        maxSteps: cfg.fineTuneMaxSteps,
        maxWork: cfg.fineTuneMaxWork,
      });
    }
    const checkSet = checkSetName ? await getCheckSet(store, checkSetName) : null;
    const replay = replayName && plan.settings.replay > 0 ? await getCheckSet(store, replayName) : null;
    const master = meta.master ? await store.getMaster(parent.version) : null;

    let result: LineageFineTuneResult;
    try {
      result = runLineageFineTune({
        parent: parent.model,
        parentVersion: parent.version,
        parentMaster: master,
        examples: { x: job.x, labels: job.labels, count: job.count },
        preprocess: job.ask.preprocess,
        settings: plan.settings,
        holdOut: plan.holdOut,
        holdOutAsked: job.ask.holdOut !== undefined,
        checkSet: checkSet && checkSetName ? { name: checkSetName, set: checkSet } : null,
        replay,
        bounds,
        kernels: getKernels(),
      });
    } catch (err) {
      if (err instanceof DivergedError) {
        throw new ApiError(
          422,
          'training_diverged',
          `${err.message}; lower learningRate. Nothing was saved`,
          {
            step: err.step,
            loss: err.loss === null ? null : String(err.loss),
            settings: plan.settings,
            parentVersion: parent.version,
          },
        );
      }
      if (err instanceof EmptyExampleError) {
        throw new ApiError(422, 'empty_image', `${err.message}; nothing was saved`, { index: err.index });
      }
      if (err instanceof HoldOutError) {
        throw new ApiError(400, 'hold_out_impossible', `${err.message}; send holdOut: 0 to train on all`, {
          examples: job.count,
          holdOut: plan.holdOut,
        });
      }
      if (err instanceof MasterMismatchError) {
        throw new ApiError(
          503,
          'model_corrupt',
          `the master of ${parent.version} does not match it: ${err.message}`,
          {
            version: parent.version,
          },
        );
      }
      throw err;
    }

    const answer: LineageAnswer = {
      dryRun: job.dryRun,
      version: null,
      parentVersion: parent.version,
      rootVersion: result.rootVersion,
      depth: result.depth,
      examples: job.count,
      trained: result.trained,
      holdOut: plan.holdOut,
      settings: plan.settings,
      work: result.work,
      steps: result.steps,
      start: result.start,
      before: result.before,
      after: result.after,
      heldOut: result.heldOut,
      guard: {
        passed: result.verdict.passed,
        checkSet: checkSetName,
        size: checkSet?.count ?? 0,
        bounds,
        parent: result.check?.parent ?? null,
        root: result.check?.root ?? null,
        child: result.check?.child ?? null,
        checks: result.verdict.checks,
        reasons: result.verdict.reasons,
      },
      attempts: attempt,
    };
    if (!result.verdict.passed) {
      throw new ApiError(
        422,
        'guard_refused',
        `the guard refused the fine-tune: ${result.verdict.reasons.join('; ')}; nothing was saved`,
        answer,
      );
    }
    if (job.dryRun) return answer;

    const version = newVersionId();
    hooks.beforeWrite?.(version, { ...answer, version });
    await store.putVersion(
      result.bytes,
      { source: 'fine-tune', parent: parent.version, root: result.rootVersion },
      result.masterBytes,
      version,
    );
    const next = advancePointer(read.pointer, version, parent.version, 'fine-tune');
    const swapped = await store.pointOrDelete(version, () => store.swapPointer(read.etag, next));
    if (swapped !== null) {
      hooks.afterSwap?.(version, true);
      invalidate(store.prefix);
      return { ...answer, version };
    }
    // Another writer moved the pointer since we read it: drop our version and retrain on the new weights. The
    // outcome is reported once the blob is gone, so a delete that fails (or a crash before it) leaves the write
    // intent open and the writer's recovery deletes it, instead of an orphan blob.
    await store.deleteVersion(version);
    hooks.afterSwap?.(version, false);
  }
  throw new ApiError(409, 'conflict', `the model changed during ${LINEAGE_ATTEMPTS} attempts; retry later`);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v) => b.includes(v));
}
