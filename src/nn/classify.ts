/**
 * @module
 * What a classifier's outputs mean: the predicted class of a row of scores and the accuracy of a batch of them,
 * and the shape of the product's inputs and outputs (28×28 grey images, digits 0-9), named once.
 */

/** Images are this many pixels on a side, row-major. */
export const IMAGE_SIDE = 28;
/** Values per image: the network's input size. */
export const INPUT_SIZE = IMAGE_SIDE * IMAGE_SIDE;
/** Classes of the product's models: the digits 0-9. Training takes its class count from the data. */
export const DIGIT_CLASSES = 10;

/**
 * The index of the largest of `count` values from `start` (relative to `start`); the first one on ties.
 * NaN is never larger, so a row that starts with NaN gives 0.
 */
export function argmax(values: ArrayLike<number>, start = 0, count = values.length - start): number {
  let best = 0;
  let max = values[start];
  for (let j = 1; j < count; j++) {
    const v = values[start + j];
    if (v > max) {
      max = v;
      best = j;
    }
  }
  return best;
}

/** The predicted class of each of the `count` rows of `classes` scores (probabilities or logits). */
export function predictedClasses(scores: ArrayLike<number>, count: number, classes: number): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = argmax(scores, i * classes, classes);
  return out;
}

/** How many of the `count` rows of scores predict their label. */
export function countCorrect(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  count: number,
  classes: number,
): number {
  let correct = 0;
  for (let i = 0; i < count; i++) if (argmax(scores, i * classes, classes) === labels[i]) correct++;
  return correct;
}

/** The fraction of the `count` rows of scores that predict their label (0 for no rows). */
export function accuracy(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  count: number,
  classes: number,
): number {
  return count === 0 ? 0 : countCorrect(scores, labels, count, classes) / count;
}
