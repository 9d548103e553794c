/**
 * @module
 * One fine-tune, computed: from the parent's float32 master, the update of `src/nn/fine-tune-update.ts` on the
 * request's examples (less a held-out slice), the child's master and its serving copy (quantized once, from the
 * master), and every figure the lineage guard decides on, measured on what would be served. Synchronous: every
 * kernel buffer it takes is freed before it returns. No I/O and no HTTP: the workflow reads the inputs from the
 * store, maps the typed errors thrown here to answers, and saves what this returns.
 */
import { fromPixels, preprocess, PreprocessError, type Preparation } from '../data/preprocess.ts';
import {
  encodeModelDecoded,
  ModelFormatError,
  preparationFor,
  preparationOf,
  type ModelData,
  type ModelMetadata,
} from '../format/index.ts';
import { encodeMaster, startingWeights, withMaster } from '../format/master.ts';
import type { Kernels } from '../kernels/kernels.ts';
import { argmax, DIGIT_CLASSES, INPUT_SIZE } from '../nn/classify.ts';
import {
  createPredictor,
  createRng,
  fineTuneUpdate,
  UpdateDiverged,
  type Predictor,
  type UpdateSettings,
} from '../nn/index.ts';
import {
  checkFigures,
  guardVerdict,
  holdOutSplit,
  HoldOutError,
  type CheckFigures,
  type GuardBounds,
  type GuardVerdict,
  type HeldOutFigures,
  type Score,
} from './lineage-guard.ts';

/** Labelled images [count×784] in [0, 1] (the check-set decoder's shape). */
export interface LabelledSet {
  count: number;
  images: Float32Array;
  labels: Uint8Array;
}

export interface LineageFineTuneInput {
  parent: ModelData;
  parentVersion: string;
  /** The parent's master blob, when its metadata names one. */
  parentMaster: Uint8Array | null;
  /** As sent, in [0, 1]: prepared here like `/predict` prepares JSON when the parent was trained on prepared images. */
  examples: { x: Float32Array; labels: Uint8Array; count: number };
  /** Prepare the examples (MNIST-style, as `/predict` does): default by the parent's recipe; false: as sent. */
  preprocess?: boolean;
  settings: UpdateSettings;
  /** Share of the examples held out to show the fine-tune helped (stratified); null: none. */
  holdOut: number | null;
  /** Whether the request asked for the slice (then an impossible one is an error, not skipped). */
  holdOutAsked?: boolean;
  /** The parent's check set and its store name; null when the parent names none. */
  checkSet: { name: string; set: LabelledSet } | null;
  /** The parent's replay set, used when `settings.replay > 0`. */
  replay: LabelledSet | null;
  bounds: GuardBounds;
  kernels: Kernels;
}

/** `metadata.lineage` of a fine-tuned version. */
export interface Lineage {
  /** The published version this one descends from. */
  root: string;
  /** Fine-tunes between the root and this version (1 for a child of the root). */
  depth: number;
  checkSet: string;
  rootCheck: CheckFigures;
}

export interface LineageFineTuneResult {
  /** The child's serving blob (the parent's encoding) and, for int8/f16, its float32 master blob. */
  bytes: Uint8Array;
  masterBytes: Uint8Array | null;
  /** Where the update started: the parent's master, an f32 parent's own weights, or (older int8) dequantized. */
  start: 'master' | 'serving-f32' | 'dequantized';
  steps: number;
  work: number;
  replayRows: number;
  /** Examples trained on, and held out. */
  trained: number;
  heldOutCount: number;
  /** Parent and child (as served) on the examples trained on. */
  before: Score;
  after: Score;
  heldOut: HeldOutFigures | null;
  /** Check-set figures, null without a check set. */
  check: { parent: CheckFigures; root: CheckFigures; child: CheckFigures } | null;
  rootVersion: string;
  depth: number;
  verdict: GuardVerdict;
}

/** An example has no ink for preprocessing to read a digit from: a 422, nothing saved. */
export class EmptyExampleError extends Error {
  override readonly name = 'EmptyExampleError';
  constructor(readonly index: number) {
    super(`example ${index} is empty: nothing to read a digit from`);
  }
}

/** How a model was trained on prepared images (`preparationOf`; null: as they are), as `/predict` decides. */
export function preparesInput(model: ModelData): Preparation | null {
  return preparationOf(model.metadata);
}

/**
 * The examples as the network sees them: a copy prepared as `preparation` says (exactly as `/predict` prepares
 * JSON images for the same model), else (null) the same object.
 * @throws {EmptyExampleError} for an example without ink.
 */
export function examplesAsServed<T extends { x: Float32Array; count: number }>(
  examples: T,
  preparation: Preparation | null,
): T {
  if (!preparation) return examples;
  const x = new Float32Array(examples.x.length);
  for (let i = 0; i < examples.count; i++) {
    try {
      x.set(
        preprocess(fromPixels(examples.x.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE)), preparation),
        i * INPUT_SIZE,
      );
    } catch (err) {
      if (err instanceof PreprocessError && err.code === 'EMPTY_IMAGE') throw new EmptyExampleError(i);
      throw err;
    }
  }
  return { ...examples, x };
}

/** The weights or the training stopped being finite: a 422, nothing saved. */
export class DivergedError extends Error {
  override readonly name = 'DivergedError';
  constructor(
    message: string,
    readonly step: number | null,
    readonly loss: number | null,
  ) {
    super(message);
  }
}

const CHUNK = 250;

/** Predicted classes and mean cross-entropy of `count` rows of x. */
function evaluate(
  predictor: Predictor,
  x: Float32Array,
  labels: ArrayLike<number>,
  count: number,
): { predicted: Uint8Array; score: Score } {
  const predicted = new Uint8Array(count);
  let loss = 0;
  let correct = 0;
  for (let from = 0; from < count; from += CHUNK) {
    const n = Math.min(CHUNK, count - from);
    const probs = predictor.predict(x.subarray(from * INPUT_SIZE, (from + n) * INPUT_SIZE), n);
    for (let i = 0; i < n; i++) {
      const best = argmax(probs, i * DIGIT_CLASSES, DIGIT_CLASSES);
      predicted[from + i] = best;
      const label = labels[from + i];
      if (best === label) correct++;
      loss -= Math.log(Math.max(probs[i * DIGIT_CLASSES + label], 1e-12));
    }
  }
  return { predicted, score: { loss: count ? loss / count : 0, accuracy: count ? correct / count : 0 } };
}

function gather(
  x: Float32Array,
  labels: Uint8Array,
  indices: number[],
): { x: Float32Array; labels: Uint8Array; count: number } {
  const out = new Float32Array(indices.length * INPUT_SIZE);
  indices.forEach((e, i) => out.set(x.subarray(e * INPUT_SIZE, (e + 1) * INPUT_SIZE), i * INPUT_SIZE));
  return { x: out, labels: Uint8Array.from(indices, (e) => labels[e]), count: indices.length };
}

/** The lineage a parent's metadata records for this check set, or null (the parent is a root: published). */
export function lineageOf(parent: ModelData, checkSet: string): Lineage | null {
  const l = parent.metadata.lineage as Partial<Lineage> | undefined;
  if (!l || typeof l.root !== 'string' || l.checkSet !== checkSet || !l.rootCheck) return null;
  return l as Lineage;
}

/** The parent's own check figures when its metadata records them for this check set. */
function recordedCheck(parent: ModelData, checkSet: string): CheckFigures | null {
  const c = parent.metadata.check as (CheckFigures & { checkSet?: string }) | undefined;
  return c && c.checkSet === checkSet && typeof c.accuracy === 'number' ? c : null;
}

/**
 * Runs the fine-tune and measures it.
 * @throws {DivergedError} when the training loss or a weight is no longer finite.
 * @throws {EmptyExampleError} when the examples are prepared and one has no ink.
 * @throws {HoldOutError} when a held-out slice is asked for and cannot be taken (one class, too few examples).
 * @throws {MasterMismatchError} when the parent's master does not belong to it.
 * @throws {RangeError} for settings the update refuses (e.g. replay without a replay set).
 */
export function runLineageFineTune(input: LineageFineTuneInput): LineageFineTuneResult {
  const { parent, settings, checkSet, kernels } = input;
  const examples = examplesAsServed(input.examples, preparationFor(parent.metadata, input.preprocess));
  const start = startingWeights(parent, input.parentMaster);
  let trainIdx = Array.from({ length: examples.count }, (_, i) => i);
  let heldIdx: number[] = [];
  if (input.holdOut !== null) {
    try {
      const rng = createRng(settings.seed ^ 0x401d);
      const split = holdOutSplit(examples.labels, examples.count, input.holdOut, rng);
      trainIdx = split.train;
      heldIdx = split.held;
    } catch (err) {
      // A default slice is skipped when the examples cannot give one (one class); an asked-for one is refused.
      if (!(err instanceof HoldOutError) || input.holdOutAsked) throw err;
    }
  }
  const train = heldIdx.length ? gather(examples.x, examples.labels, trainIdx) : examples;
  const held = heldIdx.length ? gather(examples.x, examples.labels, heldIdx) : null;

  let update;
  try {
    update = fineTuneUpdate({
      spec: { sizes: parent.sizes, alpha: parent.alpha },
      start: start.params,
      examples: train,
      replay: input.replay
        ? { x: input.replay.images, labels: input.replay.labels, count: input.replay.count }
        : null,
      settings,
      kernels,
    });
  } catch (err) {
    if (err instanceof UpdateDiverged) {
      throw new DivergedError(err.message, err.step || null, err.loss);
    }
    throw err;
  }

  const checkName = checkSet?.name ?? null;
  const parentLineage = checkName ? lineageOf(parent, checkName) : null;
  const rootVersion = parentLineage?.root ?? input.parentVersion;
  const depth = (parentLineage?.depth ?? 0) + 1;
  const metadata: ModelMetadata = { ...parent.metadata };
  // Measured on, or describing, the parent's weights; no longer true of the child.
  for (const key of ['testAccuracy', 'validationAccuracy', 'testAccuracyByEncoding', 'master', 'check']) {
    delete metadata[key];
  }
  metadata.createdAt = new Date().toISOString();
  metadata.parentVersion = input.parentVersion;

  let masterBytes: Uint8Array | null = null;
  let childModel: ModelData = {
    sizes: parent.sizes,
    alpha: parent.alpha,
    encoding: parent.encoding,
    params: update.params,
    metadata,
  };
  if (parent.encoding !== 'f32') {
    masterBytes = encodeMaster(childModel);
    childModel = withMaster(childModel, masterBytes);
  }

  const owned: Predictor[] = [];
  try {
    const parentPredictor = createPredictor(parent, kernels);
    owned.push(parentPredictor);
    // A first, unsaved encoding to score the served child; the figures then go into its metadata.
    let served: ModelData;
    try {
      served = encodeModelDecoded(childModel).decoded;
    } catch (err) {
      if (err instanceof ModelFormatError && err.code === 'NON_FINITE') {
        throw new DivergedError(`training diverged: ${err.message}`, null, null);
      }
      throw err;
    }
    const childPredictor = createPredictor(served, kernels);
    owned.push(childPredictor);

    const before = evaluate(parentPredictor, train.x, train.labels, train.count).score;
    const after = evaluate(childPredictor, train.x, train.labels, train.count).score;
    const heldOut: HeldOutFigures | null = held
      ? {
          count: held.count,
          parent: evaluate(parentPredictor, held.x, held.labels, held.count).score,
          child: evaluate(childPredictor, held.x, held.labels, held.count).score,
        }
      : null;

    let check: LineageFineTuneResult['check'] = null;
    if (checkSet) {
      const { set, name } = checkSet;
      const figuresOf = (p: Predictor) =>
        checkFigures(evaluate(p, set.images, set.labels, set.count).predicted, set.labels, set.count);
      const parentFigures = recordedCheck(parent, name) ?? figuresOf(parentPredictor);
      const strip = ({ count, accuracy, perClass }: CheckFigures): CheckFigures => ({
        count,
        accuracy,
        perClass,
      });
      check = {
        parent: strip(parentFigures),
        root: parentLineage ? strip(parentLineage.rootCheck) : strip(parentFigures),
        child: figuresOf(childPredictor),
      };
      childModel.metadata.lineage = {
        root: rootVersion,
        depth,
        checkSet: name,
        rootCheck: check.root,
      } satisfies Lineage;
      childModel.metadata.check = { ...check.child, checkSet: name };
    }
    const verdict = check
      ? guardVerdict({ ...check, heldOut, bounds: input.bounds })
      : guardVerdict({
          // Without a check set only the held-out check can fail: the others compare a model with itself.
          parent: { count: 0, accuracy: 0, perClass: [] },
          root: { count: 0, accuracy: 0, perClass: [] },
          child: { count: 0, accuracy: 0, perClass: [] },
          heldOut,
          bounds: input.bounds,
        });
    if (!check) verdict.checks = verdict.checks.filter((c) => c.name === 'held-out');

    childModel.metadata.fineTune = {
      ...settings,
      examples: examples.count,
      trained: train.count,
      heldOut: held?.count ?? 0,
      steps: update.steps,
      work: update.work,
      start: start.source,
      before,
      after,
    };
    const bytes = encodeModelDecoded(childModel).bytes;
    return {
      bytes,
      masterBytes,
      start: start.source,
      steps: update.steps,
      work: update.work,
      replayRows: update.replayRows,
      trained: train.count,
      heldOutCount: held?.count ?? 0,
      before,
      after,
      heldOut,
      check,
      rootVersion,
      depth,
      verdict,
    };
  } finally {
    for (const p of owned.reverse()) p.dispose();
  }
}
