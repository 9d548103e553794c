/**
 * @module
 * Fine-tuning math for the worker: SGD on the current weights with the same `src/nn` code as training, scored on
 * what would actually be served (the parent blob and the re-encoded child). Not I/O: the route reads and writes
 * through the store. Synchronous on purpose: every kernel buffer it takes is freed before it returns.
 */
import { encodeModelDecoded, type ModelData } from '../format/index.ts';
import { argmax, createPredictor, DIGIT_CLASSES, Mlp, Trainer, type Predictor } from '../nn/index.ts';
import type { CheckSet } from '../format/check-set.ts';
import { getKernels } from './kernels.ts';

/** Metadata keys that hold figures measured on one set of weights: a fine-tuned child does not inherit them. */
export const PARENT_FIGURES = [
  'testAccuracy',
  'validationAccuracy',
  'testAccuracyByEncoding',
  'check',
] as const;

export interface FineTuneSettings {
  steps: number;
  learningRate: number;
  l1: number;
  l2: number;
}

export interface Score {
  loss: number;
  accuracy: number;
}

type Predict = Pick<Predictor, 'predict'>;

/** Mean cross-entropy and accuracy of a predictor on `count` rows of x. */
export function score(predictor: Predict, x: Float32Array, labels: ArrayLike<number>, count: number): Score {
  const probs = predictor.predict(x, count);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < count; i++) {
    if (argmax(probs, i * DIGIT_CLASSES, DIGIT_CLASSES) === labels[i]) correct++;
    loss -= Math.log(Math.max(probs[i * DIGIT_CLASSES + labels[i]], 1e-12));
  }
  return { loss: loss / count, accuracy: correct / count };
}

/** Argmax digit, its probability, and all ten probabilities of each row. */
export function toPredictions(probs: Float32Array, count: number) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const probabilities = Array.from(probs.subarray(i * DIGIT_CLASSES, (i + 1) * DIGIT_CLASSES));
    const digit = argmax(probabilities);
    out.push({ digit, confidence: probabilities[digit], probabilities });
  }
  return out;
}

/**
 * Training left the finite numbers: the loss of `step` (1-based; `steps + 1` means the weights after the last step)
 * was NaN or infinite, typically from too high a learning rate. Nothing can be encoded from such weights.
 */
export class TrainingDivergedError extends Error {
  override readonly name = 'TrainingDivergedError';
  constructor(
    readonly step: number,
    readonly loss: number,
    readonly steps: number,
  ) {
    super(
      step > steps
        ? `training diverged: the weights were no longer finite after step ${steps} of ${steps}`
        : `training diverged: the loss at step ${step} of ${steps} was ${loss}`,
    );
  }
}

export interface FineTuneInput {
  parent: ModelData;
  parentVersion: string;
  /** [count×784] pixels in [0,1]. */
  x: Float32Array;
  labels: Uint8Array;
  count: number;
  settings: FineTuneSettings;
  /** The guard's check set, if the parent names one. */
  checkSet: CheckSet | null;
  /** The parent's check-set accuracy when already known (it is immutable). */
  parentCheckAccuracy?: number;
}

export interface FineTuneResult {
  /** The new blob, in the parent's encoding (int8 parents are re-quantized). */
  bytes: Uint8Array;
  before: Score;
  after: Score;
  /** Check-set accuracies of the parent and of the child; null without a check set. */
  check: { parent: number; child: number } | null;
}

/**
 * Runs `steps` full-batch SGD steps on a copy of the parent's weights, encodes the result, and scores parent and
 * child (as served, i.e. decoded from their blobs) on the examples and on the check set.
 * @throws {TrainingDivergedError} when the loss or the weights stop being finite.
 */
export function fineTune(input: FineTuneInput): FineTuneResult {
  const { parent, x, labels, count, settings, checkSet } = input;
  const kernels = getKernels();
  const owned: { dispose(): void }[] = [];
  const own = <T extends { dispose(): void }>(thing: T): T => (owned.push(thing), thing);
  try {
    const parentPredictor = own(createPredictor(parent, kernels));
    const before = score(parentPredictor, x, labels, count);
    const parentCheck =
      checkSet === null
        ? null
        : (input.parentCheckAccuracy ??
          score(parentPredictor, checkSet.images, checkSet.labels, checkSet.count).accuracy);

    const net = own(Mlp.fromParams({ sizes: parent.sizes, alpha: parent.alpha }, kernels, parent.params));
    const trainer = own(
      new Trainer(
        net,
        { kind: 'sgd', lr: settings.learningRate, momentum: 0, l1: settings.l1, l2: settings.l2 },
        count,
      ),
    );
    for (let step = 1; step <= settings.steps; step++) {
      const { loss } = trainer.step(x, labels, count);
      if (!Number.isFinite(loss)) throw new TrainingDivergedError(step, loss, settings.steps);
    }
    // The last update can break the weights without any step's loss showing it.
    if (!net.params.every(Number.isFinite)) {
      throw new TrainingDivergedError(settings.steps + 1, NaN, settings.steps);
    }

    const metadata: ModelData['metadata'] = {
      ...parent.metadata,
      createdAt: new Date().toISOString(),
      parentVersion: input.parentVersion,
      fineTune: { ...settings, examples: count, before },
    };
    // Measured on the parent's weights; no longer true of the child, which earned none of them.
    for (const key of PARENT_FIGURES) delete metadata[key];
    const { bytes, decoded } = encodeModelDecoded({
      sizes: parent.sizes,
      alpha: parent.alpha,
      encoding: parent.encoding,
      params: new Float32Array(net.params),
      metadata,
    });
    const childPredictor = own(createPredictor(decoded, kernels));
    const after = score(childPredictor, x, labels, count);
    const check =
      checkSet === null || parentCheck === null
        ? null
        : {
            parent: parentCheck,
            child: score(childPredictor, checkSet.images, checkSet.labels, checkSet.count).accuracy,
          };
    return { bytes, before, after, check };
  } finally {
    for (const thing of owned.reverse()) thing.dispose();
  }
}
