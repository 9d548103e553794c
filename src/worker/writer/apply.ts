/**
 * @module
 * `/feedback/apply`'s workflow, run by the model writer one write at a time: the oldest pending corrections, the
 * poisoning review against the current model, then one guarded fine-tune (the lineage workflow) whose version
 * consumes them. The consumption is recorded as a write intent before the pointer swap and concluded after it
 * (`intents.ts`), so a crash in between never applies the same corrections twice. Not HTTP.
 */
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import { getKernels } from '../kernels.ts';
import { fineTuneLineage, type LineageAnswer, type LineageJob } from '../lineage-workflow.ts';
import { loadModel } from '../model-cache.ts';
import type { ModelStore } from '../model-store.ts';
import { learnsFrom } from '../../format/index.ts';
import { createPredictor } from '../../nn/index.ts';
import type { FeedbackStatus, FeedbackStore } from './feedback-store.ts';
import type { IntentLog } from './intents.ts';
import { review, type Review } from './policy.ts';
import { APPLY_REPLAY, type FeedbackSettings } from './settings.ts';

export interface ApplyOptions {
  /** Apply held items too and skip the review check: a token holder has looked at them. */
  reviewed: boolean;
}

export interface ApplyAnswer extends LineageAnswer {
  /** Ids of the feedback items the new version consumed. */
  consumed: number[];
  /** Ids of the pending or held items dropped because they were prepared for another recipe than the parent's. */
  droppedOtherwisePrepared: number[];
  review: Review;
  applyId: number;
}

/** What an apply works on: the writer's storage and the lineage's store. */
export interface ApplyParts {
  feedback: FeedbackStore;
  intents: IntentLog;
  store: ModelStore;
  config: Config;
  settings: FeedbackSettings;
}

/**
 * One guarded fine-tune on the oldest pending feedback (up to the apply limit). Held for review instead when
 * too much of it contradicts confident predictions of the current model; left pending when the guard refuses.
 * @throws {ApiError} 422 `nothing_pending`, 422 `held_for_review`, and every refusal of `fineTuneLineage`.
 */
export async function applyPending(parts: ApplyParts, options: ApplyOptions): Promise<ApplyAnswer> {
  const { feedback, intents, store, settings } = parts;
  const statuses: FeedbackStatus[] = options.reviewed ? ['pending', 'held'] : ['pending'];
  const nothingPending = (dropped: number[]) => {
    const held = feedback.counts().held.total;
    const why = dropped.length
      ? `; ${dropped.length} prepared for another recipe than the current model's were dropped`
      : '';
    return new ApiError(
      422,
      'nothing_pending',
      (held
        ? `no feedback is pending; ${held} held for review (apply with "reviewed": true, after dropping bad items)`
        : 'no feedback is pending; nothing was applied') + why,
      { held, droppedOtherwisePrepared: dropped },
    );
  };
  // Nothing to do is found without reading the model.
  if (!feedback.hasAny(statuses)) throw nothingPending([]);
  const read = await store.readPointer();
  if (!read) throw new ApiError(503, 'no_model', 'no model has been published to this store yet');
  const current = await loadModel(store, read.pointer.current);
  // A correction prepared for another recipe (stored before the current model changed how it prepares images)
  // would teach it inputs it never sees, now or later: it is dropped, and named in the answer.
  const usable = learnsFrom(current.model.metadata);
  const droppedOtherwisePrepared = feedback.dropOtherwisePrepared(usable);
  const { ids, x, labels } = feedback.batch(statuses, settings.applyMaxExamples, usable);
  const count = ids.length;
  if (count === 0) throw nothingPending(droppedOtherwisePrepared);
  const predictor = createPredictor(current.model, getKernels());
  let checked: Review;
  try {
    checked = review(labels, predictor.predict(x, count), count, settings.review);
  } finally {
    predictor.dispose();
  }
  const detailOf = (r: Review) => ({ ...r, indices: undefined, ids: r.indices.map((i) => ids[i]) });
  if (checked.hold && !options.reviewed) {
    feedback.recordApply(
      { outcome: 'held', version: null, parent: current.version, examples: count, detail: detailOf(checked) },
      ids,
      'held',
    );
    throw new ApiError(
      422,
      'held_for_review',
      `${checked.disagreeing} of ${count} pending labels (${(checked.share * 100).toFixed(1)}%) contradict ` +
        `predictions the model makes with ≥ ${checked.confident} confidence, more than the allowed ` +
        `${checked.maxDisagreement * 100}%; the batch is held: review it (GET /feedback?status=held), drop what is ` +
        'wrong, then apply with "reviewed": true',
      { review: detailOf(checked), parentVersion: current.version },
    );
  }
  // The same workflow and lineage guard as /fine-tune, with its defaults but for the replay share and the work
  // ceiling: 1,000 corrections in a new hand at /fine-tune's 1:1 replay and 2,048 rows lowered one digit of the
  // check set by 5-7 points (the guard's bound: 5); at 2:1 and 8,192 by 3-4 (docs/feedback.md). The default
  // held-out slice (from 40 items on) must improve.
  const config = {
    ...parts.config,
    fineTuneMaxExamples: Math.max(parts.config.fineTuneMaxExamples, count),
    fineTuneMaxWork: settings.applyMaxWork,
  };
  const hasReplay = typeof current.model.metadata.replaySet === 'string';
  // Stored corrections are already the network's input (prepared or not when they were posted): as they are.
  const ask = { preprocess: false, ...(hasReplay ? { replay: APPLY_REPLAY } : {}) };
  const job: LineageJob = { x, labels, count, ask, dryRun: false, learnsFrom: usable };
  let applyId: number | null = null;
  let answer: LineageAnswer;
  try {
    answer = await fineTuneLineage(store, config, job, {
      beforeWrite: (version, a) =>
        intents.record({
          version,
          prefix: store.prefix,
          kind: 'apply',
          items: ids,
          record: { version, parent: a.parentVersion, examples: count, detail: appliedDetail(a) },
        }),
      afterSwap: (version, published) => {
        applyId = intents.conclude(version, published).applyId;
      },
    });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'guard_refused') {
      feedback.recordApply(
        { outcome: 'refused', version: null, parent: current.version, examples: count, detail: err.details },
        ids,
        null,
      );
    }
    throw err;
  }
  if (applyId === null) throw new Error(`apply of ${answer.version} published without its record`);
  return { ...answer, consumed: ids, droppedOtherwisePrepared, review: checked, applyId };
}

/** What the `applies` row keeps of a published apply. */
function appliedDetail(a: LineageAnswer) {
  return {
    rootVersion: a.rootVersion,
    depth: a.depth,
    trained: a.trained,
    settings: a.settings,
    work: a.work,
    before: a.before,
    after: a.after,
    heldOut: a.heldOut,
    guard: a.guard,
  };
}
