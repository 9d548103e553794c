/**
 * @module
 * Fine-tuning math for the worker: SGD on the current weights with the same `src/nn` code as training, scored on
 * what would actually be served (the re-encoded blob). Not I/O: the route reads and writes through the store.
 */
import { decodeModel, encodeModel, type ModelData } from '../format/index.ts';
import { createPredictor, Mlp, Trainer } from '../nn/index.ts';
import type { CheckSet } from './check-set.ts';
import { getKernels } from './kernels.ts';

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

type Predict = { predict(x: Float32Array, batch: number): Float32Array };

/** Mean cross-entropy and accuracy of a predictor on `count` rows of x. */
export function score(predictor: Predict, x: Float32Array, labels: ArrayLike<number>, count: number): Score {
  const probs = predictor.predict(x, count);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < count; i++) {
    const row = probs.subarray(i * 10, i * 10 + 10);
    let best = 0;
    for (let j = 1; j < 10; j++) if (row[j] > row[best]) best = j;
    if (best === labels[i]) correct++;
    loss -= Math.log(Math.max(row[labels[i]], 1e-12));
  }
  return { loss: loss / count, accuracy: correct / count };
}

/** Argmax digit, its probability, and all ten probabilities of each row. */
export function toPredictions(probs: Float32Array, count: number) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const probabilities = Array.from(probs.subarray(i * 10, i * 10 + 10));
    let digit = 0;
    for (let j = 1; j < 10; j++) if (probabilities[j] > probabilities[digit]) digit = j;
    out.push({ digit, confidence: probabilities[digit], probabilities });
  }
  return out;
}

export interface FineTuneResult {
  /** The new blob, in the parent's encoding (int8 parents are re-quantized). */
  bytes: Uint8Array;
  /** The new blob decoded, i.e. exactly what would be served. */
  child: ModelData;
  childPredictor: Predict;
}

/**
 * Runs `steps` full-batch SGD steps on a copy of the parent's weights and encodes the result.
 * @param x [count×784] pixels in [0,1]
 */
export function fineTune(
  parent: ModelData,
  parentVersion: string,
  x: Float32Array,
  labels: Uint8Array,
  count: number,
  settings: FineTuneSettings,
  extraMetadata: Record<string, unknown>,
): FineTuneResult {
  const kernels = getKernels();
  const net = Mlp.fromParams({ sizes: parent.sizes, alpha: parent.alpha }, kernels, parent.params);
  const trainer = new Trainer(
    net,
    { kind: 'sgd', lr: settings.learningRate, momentum: 0, l1: settings.l1, l2: settings.l2 },
    count,
  );
  try {
    for (let s = 0; s < settings.steps; s++) trainer.step(x, labels, count);
    const metadata: ModelData['metadata'] = {
      ...parent.metadata,
      ...extraMetadata,
      createdAt: new Date().toISOString(),
      parentVersion,
    };
    // Measured on the parent's weights; no longer true of the child.
    delete metadata.testAccuracy;
    delete metadata.validationAccuracy;
    const bytes = encodeModel({
      sizes: parent.sizes,
      alpha: parent.alpha,
      encoding: parent.encoding,
      params: new Float32Array(net.params),
      metadata,
    });
    const child = decodeModel(bytes);
    return { bytes, child, childPredictor: createPredictor(child, kernels) };
  } finally {
    trainer.dispose();
    net.dispose();
  }
}

/** Accuracy on the check set. */
export function checkAccuracy(predictor: Predict, set: CheckSet): number {
  return score(predictor, set.images, set.labels, set.count).accuracy;
}
