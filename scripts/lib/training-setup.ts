/**
 * @module
 * How `npm run train` turns its flags into a training run: the seeded validation split, the network, the
 * optimizer, the batch source (augmentation and preprocessing) and the one epoch loop. One place, so the
 * time-to-accuracy benchmark trains exactly as the script does. No file system here; the caller loads the
 * dataset and the kernels.
 */
import type { Kernels } from '../../src/kernels/kernels.ts';
import { createRng, Mlp, shuffleInPlace, Trainer, type MlpSpec } from '../../src/nn/index.ts';
import type { AugmentConfig } from './augment.ts';
import { PrefetchedBatches } from './batch-prefetch.ts';
import { BatchSource, prepareExamples, type BatchOptions, type BatchStream } from './batches.ts';
import { appendExamples, splitValidation, type Dataset, type Examples } from './dataset.ts';
import { learningRate } from './lr-schedule.ts';
import { DEFAULT_TYPED, type TrainOptions } from './train-options.ts';
import { renderTypedDigits } from './typed-digits.ts';
import { outlierExposureRows, startOutlierExposure } from './unsure-training.ts';

type Split = ReturnType<typeof splitValidation>;

/** The training and validation parts of `dataset.train`, split by the `--seed`'s own shuffle. */
export function splitForTraining(dataset: Dataset, o: Pick<TrainOptions, 'valFrac' | 'seed'>): Split {
  return splitValidation(dataset.train, o.valFrac, (order) =>
    shuffleInPlace(order, createRng(o.seed ^ 0x5eed)),
  );
}

/** MNIST's training split at the default `--val-frac`, the size `DEFAULT_TYPED` is set for. */
const MNIST_TRAIN = 57000;

/**
 * How many typed digits a run adds to a training split of `trainCount` digits: `--typed`, or on MNIST
 * `DEFAULT_TYPED` per 57,000 (so a `--limit` run keeps the same share), and none elsewhere.
 */
export function typedCount(o: Pick<TrainOptions, 'typed'>, datasetName: string, trainCount: number): number {
  if (o.typed !== null) return o.typed;
  return datasetName === 'mnist' ? Math.round((DEFAULT_TYPED * trainCount) / MNIST_TRAIN) : 0;
}

/**
 * The training split with the run's typed digits appended (issue #12: `scripts/lib/typed-digits.ts`); the
 * validation split stays MNIST's alone, so the best epoch is still chosen on MNIST.
 */
export function withTypedDigits(
  train: Split['train'],
  o: Pick<TrainOptions, 'typed' | 'seed'>,
  datasetName: string,
  log: (line: string) => void,
): Split['train'] {
  const count = typedCount(o, datasetName, train.count);
  if (count === 0) return train;
  const t0 = performance.now();
  const typed = renderTypedDigits(count, o.seed);
  log(
    `train: ${count} typed digits in ${typed.faces} faces of ${typed.families} font families ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return appendExamples(train, typed);
}

/** Examples as the network sees them at serving time: prepared like `/predict` when `--preprocess` is on. */
export function asServed(
  examples: Examples,
  o: Pick<TrainOptions, 'preprocess'> & { deskew?: boolean },
): Examples {
  return o.preprocess ? prepareExamples(examples, { deskew: o.deskew }) : examples;
}

/** The running totals of the epoch in progress, updated after every step. */
export interface EpochProgress {
  /** Examples trained on so far this epoch. */
  seen: number;
  lossSum: number;
  correct: number;
  /** Steps so far this epoch. */
  steps: number;
}

export interface TrainingRun {
  spec: MlpSpec;
  net: Mlp;
  trainer: Trainer;
  /** A `BatchSource`, or with `--prefetch` (the default) `PrefetchedBatches` running the same one in a thread. */
  batches: BatchStream;
  /** The batch size, at most the number of training examples. */
  batch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  /** Steps taken so far, over all epochs (the learning-rate schedule's clock). */
  readonly step: number;
  /**
   * One epoch: a fresh shuffle, then one training step per iteration, yielding the running totals after each.
   * Stopping the iteration early (break) ends the epoch there.
   */
  epoch(): Generator<EpochProgress, EpochProgress>;
  /** Frees the batch buffer and the optimizer state and stops the batch thread (the network stays the caller's). */
  dispose(): void;
}

/** Outlier exposure for `setUpTraining`: as the flags ask for `npm run train` (issue #13). */
export interface OutlierExposureRequest {
  /** Where its start-up line goes. */
  log: (line: string) => void;
}

/** The augmentation part of the flags. */
export function augmentConfig(o: TrainOptions): AugmentConfig {
  const { rotate, scale, shear, shift, elastic, elasticAlpha, thickness, blur, lowres, clean } = o;
  return { rotate, scale, shear, shift, elastic, elasticAlpha, thickness, blur, lowres, clean };
}

/** A freshly initialised network, its optimizer and the batches of `train`, as the flags say. */
export function setUpTraining(
  dataset: Dataset,
  train: Split['train'],
  o: TrainOptions,
  kernels: Kernels,
  /**
   * Non-digits added to every batch after the digits (outlier exposure), built in the batch thread when
   * prefetching, else here; null: none (the time-to-accuracy bench).
   */
  outlierExposure: OutlierExposureRequest | null = null,
): TrainingRun {
  const extraRows = outlierExposure ? outlierExposureRows(o, dataset.name) : 0;
  const mixer =
    outlierExposure && !o.prefetch
      ? startOutlierExposure(o, dataset.name, kernels, outlierExposure.log)
      : null;
  const inputSize = dataset.rows * dataset.cols;
  const spec = { sizes: [inputSize, ...o.hidden, 10], alpha: o.alpha };
  const net = Mlp.create(spec, kernels, { scheme: o.init, seed: o.seed });
  const batch = Math.min(o.batch, train.count);
  const trainer = new Trainer(
    net,
    { kind: o.optimizer, lr: o.lr, momentum: o.momentum, l1: o.l1, l2: o.l2 },
    batch + extraRows,
  );
  const batchOptions: BatchOptions = {
    seed: o.seed,
    augment: o.augment,
    augmentation: augmentConfig(o),
    flip: o.flip,
    preprocess: o.preprocess,
    // As `asServed` prepares validation and test, and /predict serves the model.
    deskew: o.deskew,
    deskewShare: o.deskewShare,
  };
  const { rows, cols } = dataset;
  const batches = o.prefetch
    ? new PrefetchedBatches(
        train.images,
        train.labels,
        rows,
        cols,
        batch,
        kernels.alloc((batch + extraRows) * inputSize),
        batchOptions,
        extraRows ? { options: o, datasetName: dataset.name, rows: extraRows } : null,
        outlierExposure?.log,
      )
    : new BatchSource(
        train.images,
        train.labels,
        rows,
        cols,
        batch,
        kernels.alloc(batch * inputSize),
        batchOptions,
      );
  // Prefetched batches come with their non-digits already after the digits.
  const batchExtra = o.prefetch ? extraRows : 0;
  const stepsPerEpoch = Math.ceil(train.count / batch);
  const totalSteps = stepsPerEpoch * o.epochs;
  let step = 0;
  function* epoch(): Generator<EpochProgress, EpochProgress> {
    batches.shuffle();
    const progress: EpochProgress = { seen: 0, lossSum: 0, correct: 0, steps: 0 };
    for (let start = 0; start < train.count; start += batch) {
      const n = batches.fill(start);
      trainer.lr = learningRate(o.lrSchedule, o.lr, step++, totalSteps);
      const result = mixer
        ? trainer.step(mixer.mix(batches.x, batches.labels, n), mixer.labels, n + mixer.rows)
        : trainer.step(batches.x, batches.labels, n + batchExtra);
      progress.lossSum += result.loss * n;
      progress.correct += result.correct;
      progress.seen += n;
      progress.steps++;
      yield progress;
    }
    return progress;
  }
  return {
    spec,
    net,
    trainer,
    batches,
    batch,
    stepsPerEpoch,
    totalSteps,
    get step() {
      return step;
    },
    epoch,
    dispose() {
      if (batches instanceof PrefetchedBatches) batches.dispose();
      mixer?.dispose();
      kernels.free(batches.x);
      trainer.dispose();
    },
  };
}
