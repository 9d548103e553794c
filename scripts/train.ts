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
import { createPredictor } from '../src/nn/index.ts';
import { DatasetError, loadDataset, MNIST_DIR, type Examples } from './lib/dataset.ts';
import { withFineTuneAssets } from './lib/fine-tune-assets.ts';
import { loadKernels, type LoadedKernels } from './lib/kernels-node.ts';
import { learningRate } from './lib/lr-schedule.ts';
import { setUpTraining, splitForTraining } from './lib/training-setup.ts';
import { percent, renderModelCard, type EpochRecord } from './lib/model-card.ts';
import { calibrationCard, calibrateBlob, startOutlierExposure } from './lib/unsure-training.ts';
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
  let options: TrainOptions;
  try {
    options = parseTrainArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) throw new Exit(error.message, 2);
    throw error;
  }
  if (options.help) {
    console.log(helpText());
    return 0;
  }
  const log = options.quiet ? () => {} : (line: string) => console.log(line);
  const started = Date.now();

  // Data.
  let dataset;
  try {
    dataset = loadDataset(options.data ?? MNIST_DIR, { limit: options.limit ?? undefined });
  } catch (error) {
    if (error instanceof DatasetError) throw new Exit(`${error.file}: ${error.message}`, 1);
    throw error;
  }
  const { train, validation } = splitForTraining(dataset, options);
  if (train.count === 0) throw new Exit(`${dataset.files[0]}: no training examples left after the split`, 1);
  const out = options.out ?? `models/${dataset.name}.bin`;
  const cardPath = out.replace(/\.bin$/, '') + '.card.md';

  // Network, optimizer, kernels.
  const kernels = await getKernels(options);
  // Outlier exposure (issue #13): null when off; its non-digits join each batch of digits.
  const oe = startOutlierExposure(options, dataset.name, kernels, log);
  const { spec, net, trainer, batches, batch, stepsPerEpoch, totalSteps } = setUpTraining(
    dataset,
    train,
    options,
    kernels,
    oe?.rows ?? 0,
  );
  log(
    `train: ${dataset.name} ${train.count} train / ${validation.count} validation / ${dataset.test.count} test, ` +
      `${spec.sizes.join('-')}, ${kernels.name}, ${options.epochs} epochs of ${stepsPerEpoch} steps`,
  );

  // Ctrl-C: the first asks the loop to stop after the current batch, the second quits at once.
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
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

  const epochs: EpochRecord[] = [];
  let best: { epoch: number; params: Float32Array; valAccuracy: number | null } | null = null;
  let step = 0;
  let trainSeconds = 0;
  for (let epoch = 1; epoch <= options.epochs && !stopRequested; epoch++) {
    batches.shuffle();
    const epochStart = performance.now();
    let lastYield = epochStart;
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    bar?.start(train.count, 0, { epoch: `${epoch}/${options.epochs}`, speed: 0, loss: '-' });
    for (let start = 0; start < train.count && !stopRequested; start += batch) {
      const n = batches.fill(start);
      trainer.lr = learningRate(options.lrSchedule, options.lr, step++, totalSteps);
      const result = oe
        ? trainer.step(oe.mix(batches.x, batches.labels, n), oe.labels, n + oe.rows)
        : trainer.step(batches.x, batches.labels, n);
      lossSum += result.loss * n;
      correct += result.correct;
      seen += n;
      const now = performance.now();
      if (now - lastYield > YIELD_MS) {
        const speed = Math.round(seen / ((now - epochStart) / 1000));
        bar?.update(seen, { speed, loss: (lossSum / seen).toFixed(4) });
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
    bar?.stop();
    if (seen === 0) break;
    const seconds = (performance.now() - epochStart) / 1000;
    trainSeconds += seconds;
    const valAccuracy =
      validation.count > 0
        ? net.evaluate(validation.images, validation.labels, validation.count).accuracy
        : null;
    const record: EpochRecord = {
      epoch,
      dataLoss: lossSum / seen,
      penalty: trainer.penalty(),
      trainAccuracy: correct / seen,
      valAccuracy,
      lr: trainer.lr,
      seconds,
      examplesPerSecond: seen / seconds,
      partial: seen < train.count,
    };
    epochs.push(record);
    // Without a validation set the latest epoch is the best one.
    const isBest =
      !best || valAccuracy === null || (best.valAccuracy !== null && valAccuracy > best.valAccuracy);
    if (isBest) best = { epoch, params: net.params.slice(), valAccuracy };
    log(formatEpoch(record, options.epochs, isBest));
  }
  process.off('SIGINT', onSigint);
  kernels.free(batches.x);
  oe?.dispose();
  trainer.dispose();
  if (!best) throw new Exit('stopped before the first training step; nothing written', 130);
  if (stopRequested) log(`train: interrupted; keeping epoch ${best.epoch}, the best so far`);

  // Test accuracy of the kept parameters, as float32 and in each encoding.
  net.params.set(best.params);
  const testAccuracy: Record<string, number> = {
    f32: net.evaluate(dataset.test.images, dataset.test.labels, dataset.test.count).accuracy,
  };
  net.dispose();
  const createdAt = new Date().toISOString();
  const launcher =
    process.env.npm_lifecycle_event === 'train' ? 'npm run train --' : 'npx tsx scripts/train.ts';
  const command = [
    launcher,
    ...argv.map((arg) => (/^[\w.,\/=:-]+$/.test(arg) ? arg : JSON.stringify(arg))),
  ].join(' ');
  const settings = {
    ...Object.fromEntries(Object.entries(options).filter(([key]) => !['help', 'quiet', 'out'].includes(key))),
    data: displayPath(dataset.dir),
  };
  const modelOf = (encoding: Encoding, metadata: ModelMetadata): ModelData => ({
    sizes: spec.sizes,
    alpha: spec.alpha,
    encoding,
    params: best!.params,
    metadata,
  });
  const draft: ModelMetadata = { dataset: dataset.name, createdAt };
  const candidates: Encoding[] = options.encoding === 'auto' ? AUTO_ORDER : [options.encoding];
  let encoding: Encoding = 'f32';
  for (const candidate of candidates) {
    const accuracy =
      candidate === 'f32'
        ? testAccuracy.f32
        : blobAccuracy(encodeModel(modelOf(candidate, draft)), dataset.test, kernels);
    testAccuracy[candidate] = accuracy;
    encoding = candidate;
    if (options.encoding !== 'auto' || testAccuracy.f32 - accuracy <= AUTO_TOLERANCE) break;
  }
  // Calibration (issue #13): the temperature fitted on the validation split, as the chosen encoding serves it.
  const calibration = calibrateBlob(encodeModel(modelOf(encoding, draft)), validation, dataset.test, kernels);
  await kernels.dispose();

  const wallSeconds = (Date.now() - started) / 1000;
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
      interrupted: stopRequested,
      trainCount: train.count,
      validationCount: validation.count,
      testCount: dataset.test.count,
      trainSeconds: round(trainSeconds, 2),
      wallSeconds: round(wallSeconds, 2),
      kernels: kernels.name,
      command,
    },
  };
  // Fine-tune hook (issue #14): check set (validation), replay set (train) and float32 master beside the blob.
  const blob = encodeModel(withFineTuneAssets(modelOf(encoding, metadata), out, train, validation));
  const card =
    renderModelCard({
      blobName: basename(out),
      blobBytes: blob.length,
      dataset: dataset.name,
      sizes: spec.sizes,
      alpha: spec.alpha,
      encoding,
      counts: { train: train.count, validation: validation.count, test: dataset.test.count },
      testAccuracy,
      validationAccuracy: best.valAccuracy,
      bestEpoch: best.epoch,
      epochs,
      settings,
      trainSeconds,
      kernels: kernels.name,
      createdAt,
      command,
      interrupted: stopRequested,
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
      `best epoch ${best.epoch} val ${percent(best.valAccuracy)}, ${trainSeconds.toFixed(1)} s training; ` +
      `wrote ${out} (${blob.length} bytes) and ${cardPath}`,
  );
  if (stopRequested) return 130;
  if (options.target !== null && testAccuracy[encoding] < options.target) {
    console.error(
      `train: test accuracy ${percent(testAccuracy[encoding])} is below the target ${percent(options.target)}`,
    );
    return 3;
  }
  return 0;
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
    for (let i = 0; i < n; i++) {
      const row = probs.subarray(i * 10, i * 10 + 10);
      let arg = 0;
      for (let c = 1; c < 10; c++) if (row[c] > row[arg]) arg = c;
      if (arg === test.labels[start + i]) correct++;
    }
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
