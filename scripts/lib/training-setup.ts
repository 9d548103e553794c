/**
 * @module
 * How `npm run train` turns its flags into a training run: the seeded validation split, the network, the
 * optimizer and the batch source. One place, so the time-to-accuracy benchmark trains exactly as the script does.
 * No file system here; the caller loads the dataset and the kernels.
 */
import type { Kernels } from '../../src/kernels/kernels.ts';
import { createRng, Mlp, shuffleInPlace, Trainer, type MlpSpec } from '../../src/nn/index.ts';
import { BatchSource } from './augment.ts';
import { splitValidation, type Dataset } from './dataset.ts';
import type { TrainOptions } from './train-options.ts';

type Split = ReturnType<typeof splitValidation>;

/** The training and validation parts of `dataset.train`, split by the `--seed`'s own shuffle. */
export function splitForTraining(dataset: Dataset, o: TrainOptions): Split {
  return splitValidation(dataset.train, o.valFrac, (order) =>
    shuffleInPlace(order, createRng(o.seed ^ 0x5eed)),
  );
}

export interface TrainingRun {
  spec: MlpSpec;
  net: Mlp;
  trainer: Trainer;
  batches: BatchSource;
  /** The batch size, at most the number of training examples. */
  batch: number;
  stepsPerEpoch: number;
  totalSteps: number;
}

/** A freshly initialised network, its optimizer and the batches of `train`, as the flags say. */
export function setUpTraining(
  dataset: Dataset,
  train: Split['train'],
  o: TrainOptions,
  kernels: Kernels,
  /** Rows the trainer takes on top of a batch of digits (outlier exposure's non-digits). */
  extraRows = 0,
): TrainingRun {
  const inputSize = dataset.rows * dataset.cols;
  const spec = { sizes: [inputSize, ...o.hidden, 10], alpha: o.alpha };
  const net = Mlp.create(spec, kernels, { scheme: o.init, seed: o.seed });
  const batch = Math.min(o.batch, train.count);
  const trainer = new Trainer(
    net,
    { kind: o.optimizer, lr: o.lr, momentum: o.momentum, l1: o.l1, l2: o.l2 },
    batch + extraRows,
  );
  const batches = new BatchSource(
    train.images,
    train.labels,
    dataset.rows,
    dataset.cols,
    batch,
    kernels.alloc(batch * inputSize),
    o,
  );
  const stepsPerEpoch = Math.ceil(train.count / batch);
  return { spec, net, trainer, batches, batch, stepsPerEpoch, totalSteps: stepsPerEpoch * o.epochs };
}
