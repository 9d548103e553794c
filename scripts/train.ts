/**
 * @module
 * `npm run train`: trains the MLP on an IDX dataset (MNIST by default), keeps the best epoch by validation
 * accuracy, measures test accuracy, and writes the model blob and its card. `--help` lists the flags.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, relative } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Kernels } from '../src/kernels/kernels.ts';
import { decodeModel, encodeModel, type ModelData, type ModelMetadata } from '../src/format/index.ts';
import { countCorrect, createPredictor, DIGIT_CLASSES } from '../src/nn/index.ts';
import { DatasetError, loadDataset, MNIST_DIR, type Dataset, type Examples } from './lib/dataset.ts';
import { PrefetchedBatches } from './lib/batch-prefetch.ts';
import { withFineTuneAssets } from './lib/fine-tune-assets.ts';
import { loadKernels, type LoadedKernels } from './lib/kernels-node.ts';
import {
  asServed,
  setUpTraining,
  splitForTraining,
  withTypedDigits,
  type EpochProgress,
  type TrainingRun,
} from './lib/training-setup.ts';
import { percent, renderModelCard, type EpochRecord } from './lib/model-card.ts';
import { calibrationCard, calibrateBlob } from './lib/unsure-training.ts';
import {
  helpText,
  parseTrainArgs,
  UsageError,
  type Encoding,
  type TrainOptions,
} from './lib/train-options.ts';

/** Encodings from the most compact; `auto` takes the first within this much of f32's test accuracy. */
const AUTO_ORDER: Encoding[] = ['int8', 'f16', 'f32'];
const AUTO_TOLERANCE = 0.001;
/** How often the loop yields to the event loop so the progress bar redraws and Ctrl-C is seen. */
const YIELD_MS = 50;

/** The one place kernels come from. */
async function getKernels(options: TrainOptions): Promise<LoadedKernels> {
  try {
    return await loadKernels({ backend: options.backend, threads: options.threads });
  } catch (error) {
    throw new Exit((error as Error).message.replace(/^kernels: /, ''), 1);
  }
}

/** A user-facing failure: printed as one line `train: <message>` with this exit status. */
class Exit extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (options.help) {
    console.log(helpText());
    return 0;
  }
  const log = options.quiet ? () => {} : (line: string) => console.log(line);
  const started = Date.now();

  // Load: the dataset, its seeded split, and the evaluation sets as /predict would see them.
  const dataset = load(options);
  const split = splitForTraining(dataset, options);
  const { validation: rawValidation } = split;
  const train = withTypedDigits(split.train, options, dataset.name, log);
  if (split.train.count === 0)
    throw new Exit(`${dataset.files[0]}: no training examples left after the split`, 1);
  const validation = asServed(rawValidation, options);
  const test = asServed(dataset.test, options);
  const out = options.out ?? `models/${dataset.name}.bin`;
  const cardPath = out.replace(/\.bin$/, '') + '.card.md';

  // Set up: network, optimizer, kernels, batches; outlier exposure (issue #13) adds non-digits to each batch.
  const kernels = await getKernels(options);
  const run = setUpTraining(dataset, train, options, kernels, { log });
  log(
    `train: ${dataset.name} ${train.count} train / ${validation.count} validation / ${test.count} test, ` +
      `${run.spec.sizes.join('-')}, ${kernels.name}, ${options.epochs} epochs of ${run.stepsPerEpoch} steps; ` +
      `${run.batches.describe()}`,
  );

  // Per epoch: run, evaluate, keep the best.
  const { epochs, best, stopped, trainSeconds } = await trainEpochs(run, validation, options, log);
  run.dispose();
  if (!best) throw new Exit('stopped before the first training step; nothing written', 130);
  if (stopped) log(`train: interrupted; keeping epoch ${best.epoch}, the best so far`);

  // Choose the encoding: test accuracy of the kept parameters as float32 and in each candidate encoding.
  run.net.params.set(best.params);
  const f32 = run.net.evaluate(test.images, test.labels, test.count).accuracy;
  run.net.dispose();
  const createdAt = new Date().toISOString();
  const command = commandLine(argv);
  const settings = {
    ...Object.fromEntries(Object.entries(options).filter(([key]) => !['help', 'quiet', 'out'].includes(key))),
    data: displayPath(dataset.dir),
    typed: train.count - split.train.count,
  };
  const modelOf = (encoding: Encoding, metadata: ModelMetadata): ModelData => ({
    sizes: run.spec.sizes,
    alpha: run.spec.alpha,
    encoding,
    params: best.params,
    metadata,
  });
  const { encoding, testAccuracy } = chooseEncoding(options.encoding, f32, (candidate) =>
    blobAccuracy(encodeModel(modelOf(candidate, { dataset: dataset.name, createdAt })), test, kernels),
  );
  // Calibration (issue #13): the temperature fitted on the validation split, as the chosen encoding serves it.
  const draft: ModelMetadata = { dataset: dataset.name, createdAt };
  const calibration = calibrateBlob(encodeModel(modelOf(encoding, draft)), validation, test, kernels);
  await kernels.dispose();

  // Write: the blob (with the fine-tune assets of issue #14: check set, replay set, master) and its card.
  const augmentSeconds = run.batches.fillSeconds;
  const threadSeconds = run.batches instanceof PrefetchedBatches ? run.batches.workerSeconds : null;
  const metadata: ModelMetadata = {
    dataset: dataset.name,
    createdAt,
    testAccuracy: testAccuracy[encoding],
    validationAccuracy: best.valAccuracy ?? undefined,
    parentVersion: null,
    testAccuracyByEncoding: testAccuracy,
    ...(calibration ? { calibration: calibration.metadata } : {}),
    training: {
      ...settings,
      bestEpoch: best.epoch,
      epochsRun: epochs.length,
      interrupted: stopped,
      trainCount: train.count,
      validationCount: validation.count,
      testCount: test.count,
      trainSeconds: round(trainSeconds, 2),
      augmentSeconds: round(augmentSeconds, 2),
      ...(threadSeconds !== null ? { batchThreadSeconds: round(threadSeconds, 2) } : {}),
      wallSeconds: round((Date.now() - started) / 1000, 2),
      kernels: kernels.name,
      command,
    },
  };
  // The replay set is drawn from the training split as the network sees it (prepared like /predict).
  const blob = encodeModel(
    withFineTuneAssets(modelOf(encoding, metadata), out, asServed(train, options), validation),
  );
  const card =
    renderModelCard({
      blobName: basename(out),
      blobBytes: blob.length,
      dataset: dataset.name,
      sizes: run.spec.sizes,
      alpha: run.spec.alpha,
      encoding,
      counts: { train: train.count, validation: validation.count, test: test.count },
      testAccuracy,
      validationAccuracy: best.valAccuracy,
      bestEpoch: best.epoch,
      epochs,
      settings,
      trainSeconds,
      kernels: kernels.name,
      createdAt,
      command,
      interrupted: stopped,
    }) + calibrationCard(calibration);
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeAtomically(out, blob);
    writeAtomically(cardPath, card);
  } catch (error) {
    throw new Exit(`${out}: cannot write: ${(error as Error).message}`, 1);
  }

  const accuracies = Object.entries(testAccuracy)
    .map(([name, accuracy]) => `${name} ${percent(accuracy)}`)
    .join(', ');
  console.log(
    `train: test accuracy ${percent(testAccuracy[encoding])} (${encoding}; ${accuracies}), ` +
      `best epoch ${best.epoch} val ${percent(best.valAccuracy)}, ${trainSeconds.toFixed(1)} s training ` +
      `(${percent(augmentSeconds / trainSeconds)} of it ${threadSeconds === null ? 'preparing' : 'waiting for'} batches); ` +
      `wrote ${out} (${blob.length} bytes) and ${cardPath}`,
  );
  if (stopped) return 130;
  if (options.target !== null && testAccuracy[encoding] < options.target) {
    console.error(
      `train: test accuracy ${percent(testAccuracy[encoding])} is below the target ${percent(options.target)}`,
    );
    return 3;
  }
  return 0;
}

function parseOptions(argv: string[]): TrainOptions {
  try {
    return parseTrainArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) throw new Exit(error.message, 2);
    throw error;
  }
}

function load(options: TrainOptions): Dataset {
  try {
    return loadDataset(options.data ?? MNIST_DIR, { limit: options.limit ?? undefined });
  } catch (error) {
    if (error instanceof DatasetError) throw new Exit(`${error.file}: ${error.message}`, 1);
    throw error;
  }
}

interface Best {
  epoch: number;
  params: Float32Array;
  valAccuracy: number | null;
}

/**
 * Runs the epochs with a progress bar, evaluating on `validation` after each and keeping the best parameters.
 * Ctrl-C: the first asks the loop to stop after the current batch, the second quits at once.
 */
async function trainEpochs(
  run: TrainingRun,
  validation: Examples,
  options: TrainOptions,
  log: (line: string) => void,
): Promise<{ epochs: EpochRecord[]; best: Best | null; stopped: boolean; trainSeconds: number }> {
  let stopped = false;
  const onSigint = () => {
    if (stopped) process.exit(130);
    stopped = true;
  };
  process.on('SIGINT', onSigint);
  const bar =
    options.quiet || !process.stderr.isTTY
      ? null
      : new SingleBar({
          format: 'epoch {epoch} [{bar}] {value}/{total} | {speed} ex/s | ETA {eta_formatted} | loss {loss}',
          hideCursor: true,
          clearOnComplete: true,
        });
  const { net, trainer, batches } = run;
  const epochs: EpochRecord[] = [];
  let best: Best | null = null;
  let trainSeconds = 0;
  for (let epoch = 1; epoch <= options.epochs && !stopped; epoch++) {
    const epochStart = performance.now();
    const fillBefore = batches.fillSeconds;
    const threadBefore = batches instanceof PrefetchedBatches ? batches.workerSeconds : 0;
    let lastYield = epochStart;
    let p: EpochProgress = { seen: 0, lossSum: 0, correct: 0, steps: 0 };
    bar?.start(batches.count, 0, { epoch: `${epoch}/${options.epochs}`, speed: 0, loss: '-' });
    for (p of run.epoch()) {
      const now = performance.now();
      if (now - lastYield > YIELD_MS) {
        const speed = Math.round(p.seen / ((now - epochStart) / 1000));
        bar?.update(p.seen, { speed, loss: (p.lossSum / p.seen).toFixed(4) });
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      if (stopped) break;
    }
    bar?.stop();
    if (p.seen === 0) break;
    const seconds = (performance.now() - epochStart) / 1000;
    trainSeconds += seconds;
    const valAccuracy =
      validation.count > 0
        ? net.evaluate(validation.images, validation.labels, validation.count).accuracy
        : null;
    const record: EpochRecord = {
      epoch,
      dataLoss: p.lossSum / p.seen,
      penalty: trainer.penalty(),
      trainAccuracy: p.correct / p.seen,
      valAccuracy,
      lr: trainer.lr,
      seconds,
      examplesPerSecond: p.seen / seconds,
      partial: p.seen < batches.count,
    };
    epochs.push(record);
    // Without a validation set the latest epoch is the best one.
    const isBest =
      !best || valAccuracy === null || (best.valAccuracy !== null && valAccuracy > best.valAccuracy);
    if (isBest) best = { epoch, params: net.params.slice(), valAccuracy };
    // The share of the epoch the network waited for batches; with prefetching, also how busy the thread was.
    const share = (batches.fillSeconds - fillBefore) / seconds;
    const thread =
      batches instanceof PrefetchedBatches
        ? ` (thread busy ${percent((batches.workerSeconds - threadBefore) / seconds)})`
        : '';
    log(`${formatEpoch(record, options.epochs, isBest)}  batches ${percent(share)}${thread}`);
  }
  process.off('SIGINT', onSigint);
  return { epochs, best, stopped, trainSeconds };
}

/**
 * The encoding to store: the one asked for, or for `auto` the most compact whose test accuracy is within
 * `AUTO_TOLERANCE` of float32's. `accuracyOf` measures a candidate as served.
 */
function chooseEncoding(
  asked: Encoding | 'auto',
  f32: number,
  accuracyOf: (encoding: Encoding) => number,
): { encoding: Encoding; testAccuracy: Record<string, number> } {
  const testAccuracy: Record<string, number> = { f32 };
  const candidates: Encoding[] = asked === 'auto' ? AUTO_ORDER : [asked];
  let encoding: Encoding = 'f32';
  for (const candidate of candidates) {
    const accuracy = candidate === 'f32' ? f32 : accuracyOf(candidate);
    testAccuracy[candidate] = accuracy;
    encoding = candidate;
    if (asked !== 'auto' || f32 - accuracy <= AUTO_TOLERANCE) break;
  }
  return { encoding, testAccuracy };
}

/** The command that reproduces this run, for the card. */
function commandLine(argv: string[]): string {
  const launcher =
    process.env.npm_lifecycle_event === 'train' ? 'npm run train --' : 'npx tsx scripts/train.ts';
  return [launcher, ...argv.map((arg) => (/^[\w.,\/=:-]+$/.test(arg) ? arg : JSON.stringify(arg)))].join(' ');
}

/** Test accuracy of a blob as the Worker would serve it: decoded, then run by the inference predictor. */
function blobAccuracy(blob: Uint8Array, test: Examples, kernels: Kernels): number {
  const predictor = createPredictor(decodeModel(blob), kernels);
  const inputSize = test.images.length / test.count;
  const chunk = 1000;
  let correct = 0;
  for (let start = 0; start < test.count; start += chunk) {
    const n = Math.min(chunk, test.count - start);
    const probs = predictor.predict(test.images.subarray(start * inputSize, (start + n) * inputSize), n);
    correct += countCorrect(probs, test.labels.subarray(start, start + n), n, DIGIT_CLASSES);
  }
  predictor.dispose();
  return correct / test.count;
}

function formatEpoch(e: EpochRecord, epochs: number, best: boolean): string {
  const width = String(epochs).length;
  return (
    `epoch ${String(e.epoch).padStart(width)}/${epochs}${e.partial ? ' (partial)' : ''}  ` +
    `loss ${e.dataLoss.toFixed(4)} + penalty ${e.penalty.toFixed(4)}  train ${percent(e.trainAccuracy)}  ` +
    `val ${percent(e.valAccuracy)}  lr ${e.lr.toPrecision(3)}  ${e.seconds.toFixed(1)} s  ` +
    `${Math.round(e.examplesPerSecond)} ex/s${best ? '  * best' : ''}`
  );
}

/** A path relative to the working directory when inside it, else absolute. */
function displayPath(path: string): string {
  const inside = relative(process.cwd(), path);
  return inside === '' ? '.' : inside.startsWith('..') ? path : inside;
}

function round(v: number, digits: number): number {
  return Number(v.toFixed(digits));
}

/** Writes through a temporary file so an interrupted write never leaves half a model behind. */
function writeAtomically(path: string, data: Uint8Array | string): void {
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error: unknown) => {
    if (error instanceof Exit) {
      console.error(`train: ${error.message}`);
      process.exit(error.status);
    }
    throw error;
  },
);
