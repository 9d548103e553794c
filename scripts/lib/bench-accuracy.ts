/**
 * @module
 * Time to accuracy for `npm run bench -- --time-to-accuracy`: trains with `npm run train`'s default recipe
 * (same split, shuffles and learning-rate schedule) and reports the seconds of training, evaluation excluded,
 * until the test accuracy first reaches the target. Writes no model.
 */
import type { Kernels } from '../../src/kernels/kernels.ts';
import { setUpTraining, splitForTraining } from './training-setup.ts';
import type { Dataset } from './dataset.ts';
import { learningRate } from './lr-schedule.ts';
import { parseTrainArgs } from './train-options.ts';

export interface AccuracyPoint {
  epoch: number;
  step: number;
  trainSeconds: number;
  testAccuracy: number;
}

export interface TimeToAccuracy {
  target: number;
  kernels: string;
  recipe: string;
  /** Seconds of training when the test accuracy first reached the target; null if it never did. */
  seconds: number | null;
  /** Fractional epochs run by then (or in all). */
  epochs: number;
  points: AccuracyPoint[];
}

/**
 * Trains on `dataset` with the default flags of `scripts/train.ts` (plus `extraArgs`), evaluating the test set
 * `evalsPerEpoch` times per epoch; stops at the target.
 */
export function timeToAccuracy(
  dataset: Dataset,
  kernels: Kernels,
  target = 0.98,
  evalsPerEpoch = 4,
  extraArgs: string[] = [],
  log?: (line: string) => void,
): TimeToAccuracy {
  const o = parseTrainArgs(extraArgs);
  const { train } = splitForTraining(dataset, o);
  const { spec, net, trainer, batches, batch, stepsPerEpoch, totalSteps } = setUpTraining(
    dataset,
    train,
    o,
    kernels,
  );
  const evalEvery = Math.ceil(stepsPerEpoch / evalsPerEpoch);
  const { augmentation } = batches;
  const recipe =
    `${spec.sizes.join('-')}, ${o.optimizer} lr ${o.lr} momentum ${o.momentum} l2 ${o.l2}, batch ${batch}, ` +
    `${o.lrSchedule} schedule over ${o.epochs} epochs, ${o.init} init, ` +
    `${augmentation ? `shifts up to ${augmentation.maxShift} px${o.flip ? ' and flips' : ''}` : 'no augmentation'}, ` +
    `${train.count} training examples`;
  const points: AccuracyPoint[] = [];
  let trainMs = 0;
  let step = 0;
  let reached: number | null = null;
  outer: for (let epoch = 1; epoch <= o.epochs; epoch++) {
    batches.shuffle();
    let t0 = performance.now();
    for (let start = 0, i = 0; start < train.count; start += batch, i++) {
      const n = batches.fill(start);
      trainer.lr = learningRate(o.lrSchedule, o.lr, step++, totalSteps);
      trainer.step(batches.x, batches.labels, n);
      const last = start + batch >= train.count;
      if ((i + 1) % evalEvery !== 0 && !last) continue;
      trainMs += performance.now() - t0;
      const accuracy = net.evaluate(dataset.test.images, dataset.test.labels, dataset.test.count).accuracy;
      points.push({ epoch, step, trainSeconds: trainMs / 1000, testAccuracy: accuracy });
      log?.(
        `  epoch ${(step / stepsPerEpoch).toFixed(2)}: test ${(accuracy * 100).toFixed(2)}% after ` +
          `${(trainMs / 1000).toFixed(1)} s of training`,
      );
      if (accuracy >= target) {
        reached = trainMs / 1000;
        break outer;
      }
      t0 = performance.now();
    }
  }
  kernels.free(batches.x);
  trainer.dispose();
  net.dispose();
  return { target, kernels: kernels.name, recipe, seconds: reached, epochs: step / stepsPerEpoch, points };
}
