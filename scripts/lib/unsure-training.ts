/**
 * @module
 * What issue #13 adds to `npm run train`, in one place so the script's edit stays three calls: outlier exposure
 * (on by default for MNIST) and the temperature fitted on the validation split, stored in the metadata and shown
 * in the model card. No training loop here.
 */
import type { Kernels } from '../../src/kernels/kernels.ts';
import { decodeModel } from '../../src/format/index.ts';
import { createPredictor } from '../../src/nn/index.ts';
import { atTemperature, calibrate, expectedCalibrationError, type CalibrationReport } from './calibrate.ts';
import { prepareInto } from './batches.ts';
import type { Examples } from './dataset.ts';
import { FASHION_DIR, OutlierExposure, trainingNegatives, TYPED_BANK } from './outlier-exposure.ts';
import type { TrainOptions } from './train-options.ts';

/** Non-digits per batch on MNIST by default (other datasets: none; the negatives are drawn as non-digits). */
export const DEFAULT_OE_ROWS = 16;

/** Non-digits per batch the flags ask for (0: off, or not MNIST and not asked for). */
export function outlierExposureRows(options: TrainOptions, datasetName: string): number {
  return options.oe ?? (datasetName === 'mnist' ? DEFAULT_OE_ROWS : 0);
}

/**
 * The outlier-exposure mixer the flags ask for, or null. Called in the batch thread when batches are prefetched
 * (`batch-worker.ts`), so it must depend on its arguments only.
 */
export function startOutlierExposure(
  options: TrainOptions,
  datasetName: string,
  kernels: Pick<Kernels, 'alloc' | 'free'>,
  log: (line: string) => void,
): OutlierExposure | null {
  const rows = outlierExposureRows(options, datasetName);
  if (rows === 0) return null;
  // A pool no larger than the training set: small smoke runs stay quick.
  const pool = Math.min(8192, options.limit ?? Infinity);
  const { kinds, fashion, typed, note } = trainingNegatives(
    options.oeFashion ?? FASHION_DIR,
    options.seed,
    Math.min(TYPED_BANK, pool),
  );
  log(`train: outlier exposure, ${rows} non-digits with uniform targets in each batch: ${note}`);
  return new OutlierExposure(
    {
      seed: options.seed,
      rows,
      batch: options.batch,
      pool,
      kinds,
      fashion,
      typed,
      // Digits are prepared as /predict prepares them; so are the non-digits, or OE would teach the wrong inputs.
      prepare: options.preprocess
        ? (image, dst) => prepareInto(image, dst, { deskew: options.deskew })
        : undefined,
    },
    kernels,
  );
}

/** Probabilities [count×10] of `examples` through the blob as the Worker would decode and serve it. */
export function blobProbabilities(blob: Uint8Array, examples: Examples, kernels: Kernels): Float32Array {
  const predictor = createPredictor(decodeModel(blob), kernels);
  const out = new Float32Array(examples.count * 10);
  const chunk = 1000;
  for (let start = 0; start < examples.count; start += chunk) {
    const n = Math.min(chunk, examples.count - start);
    out.set(predictor.predict(examples.images.subarray(start * 784, (start + n) * 784), n), start * 10);
  }
  predictor.dispose();
  return out;
}

export interface BlobCalibration {
  report: CalibrationReport;
  test: { eceBefore: number; eceAfter: number };
  /** What goes into the model's metadata under `calibration`. */
  metadata: { method: 'temperature'; temperature: number; fittedOn: 'validation' } & Record<string, unknown>;
}

/** The temperature of the blob fitted on `validation` (null without a validation split), and test ECE. */
export function calibrateBlob(
  blob: Uint8Array,
  validation: Examples,
  test: Examples,
  kernels: Kernels,
): BlobCalibration | null {
  if (validation.count === 0) return null;
  const report = calibrate(blobProbabilities(blob, validation, kernels), validation.labels);
  const testProbs = blobProbabilities(blob, test, kernels);
  const r = (v: number) => Number(v.toFixed(5));
  const testEce = {
    eceBefore: r(expectedCalibrationError(testProbs, test.labels)),
    eceAfter: r(expectedCalibrationError(atTemperature(testProbs, report.temperature), test.labels)),
  };
  return {
    report,
    test: testEce,
    metadata: {
      method: 'temperature',
      temperature: report.temperature,
      fittedOn: 'validation',
      validation: report.validation,
      test: testEce,
    },
  };
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** The model card's calibration section (empty without a calibration). */
export function calibrationCard(c: BlobCalibration | null): string {
  if (!c) return '';
  const v = c.report.validation;
  return [
    '',
    '## Calibration',
    '',
    `Temperature **${c.report.temperature}**, fitted on the ${v.count} validation examples by least NLL; the worker`,
    'divides the logits by it. Expected calibration error over 15 bins:',
    '',
    '| split      | ECE before | ECE after | NLL before | NLL after |',
    '| ---------- | ---------- | --------- | ---------- | --------- |',
    `| validation | ${pct(v.eceBefore)} | ${pct(v.eceAfter)} | ${v.nllBefore.toFixed(4)} | ${v.nllAfter.toFixed(4)} |`,
    `| test       | ${pct(c.test.eceBefore)} | ${pct(c.test.eceAfter)} |  |  |`,
    '',
  ].join('\n');
}
