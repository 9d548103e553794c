/**
 * @module
 * Time to accuracy for `npm run bench -- --time-to-accuracy`: trains with `npm run train`'s default recipe
 * (same split, shuffles and learning-rate schedule) and reports the seconds of training, evaluation excluded,
 * until the test accuracy first reaches the target. Writes no model.
 */
import type { Kernels } from '../../src/kernels/kernels.ts';
import { asServed, setUpTraining, splitForTraining } from './training-setup.ts';
import type { Dataset } from './dataset.ts';
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
  const run = setUpTraining(dataset, train, o, kernels);
  const { spec, net, batches, batch, stepsPerEpoch } = run;
  const test = asServed(dataset.test, o);
  const evalEvery = Math.ceil(stepsPerEpoch / evalsPerEpoch);
  const recipe =
    `${spec.sizes.join('-')}, ${o.optimizer} lr ${o.lr} momentum ${o.momentum} l2 ${o.l2}, batch ${batch}, ` +
    `${o.lrSchedule} schedule over ${o.epochs} epochs, ${o.init} init, ${batches.describe()}, ` +
    `${train.count} training examples`;
  const points: AccuracyPoint[] = [];
  let trainMs = 0;
  let reached: number | null = null;
  outer: for (let epoch = 1; epoch <= o.epochs; epoch++) {
    let t0 = performance.now();
    for (const p of run.epoch()) {
      const last = p.seen >= train.count;
      if (p.steps % evalEvery !== 0 && !last) continue;
      trainMs += performance.now() - t0;
      const accuracy = net.evaluate(test.images, test.labels, test.count).accuracy;
      points.push({ epoch, step: run.step, trainSeconds: trainMs / 1000, testAccuracy: accuracy });
      log?.(
        `  epoch ${(run.step / stepsPerEpoch).toFixed(2)}: test ${(accuracy * 100).toFixed(2)}% after ` +
          `${(trainMs / 1000).toFixed(1)} s of training`,
      );
      if (accuracy >= target) {
        reached = trainMs / 1000;
        break outer;
      }
      t0 = performance.now();
    }
  }
  run.dispose();
  net.dispose();
  return {
    target,
    kernels: kernels.name,
    recipe,
    seconds: reached,
    epochs: run.step / stepsPerEpoch,
    points,
  };
}
