/**
 * @module
 * What `scripts/export.ts` and `scripts/import.ts` share: bounded file reading, atomic writes, one-line
 * failures, and scoring a model on a test set as the Worker serves it. Not the format code (that is `src/format`).
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { decodeModel, encodeModel, preparationOf, type ModelData } from '../../src/format/index.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { createPredictor } from '../../src/nn/index.ts';
import { prepareExamples } from './batches.ts';
import type { Examples } from './dataset.ts';

/**
 * `examples` as JSON /predict feeds them to a model with this metadata: prepared by `src/data/preprocess.ts` when
 * its recipe trained on prepared images (`metadata.training.preprocess`, and `deskew`), else as they are.
 */
export function asServed(metadata: ModelData['metadata'], examples: Examples): Examples {
  const preparation = preparationOf(metadata);
  return preparation ? prepareExamples(examples, preparation) : examples;
}

/** A user-facing failure: printed as one line `<script>: <message>`, exit with `status`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status = 1,
  ) {
    super(message);
  }
}

/**
 * Reads a whole file after checking its size against `maxBytes` (so a huge file is refused before it is read).
 * @throws {CliError} naming the file
 */
export function readBounded(path: string, maxBytes: number): Uint8Array {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new CliError(`${path}: not a file`);
    size = stat.size;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`${path}: cannot read: ${(error as Error).message}`);
  }
  if (size > maxBytes)
    throw new CliError(`${path}: ${size} bytes, more than the ${maxBytes} a model can take`);
  return new Uint8Array(readFileSync(path));
}

/** Writes through a temporary file so an interrupted write never leaves half a file behind. */
export function writeAtomically(path: string, data: Uint8Array | string): void {
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch (error) {
    throw new CliError(`${path}: cannot write: ${(error as Error).message}`);
  }
}

/** argmax of each row of `probs` [rows×classes]. */
export function argmaxRows(probs: Float32Array, rows: number, classes: number): Uint8Array {
  const out = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    let arg = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + arg]) arg = c;
    out[i] = arg;
  }
  return out;
}

/** Class probabilities of the first `count` examples, as the Worker computes them (decoded blob, predictor). */
export function predictExamples(
  model: ModelData,
  test: Examples,
  kernels: Kernels,
  count = test.count,
): Float32Array {
  const predictor = createPredictor(model, kernels);
  const inputSize = test.images.length / test.count;
  const classes = model.sizes[model.sizes.length - 1];
  const probs = new Float32Array(count * classes);
  const chunk = 1000;
  try {
    for (let start = 0; start < count; start += chunk) {
      const n = Math.min(chunk, count - start);
      const x = test.images.subarray(start * inputSize, (start + n) * inputSize);
      probs.set(predictor.predict(x, n), start * classes);
    }
  } finally {
    predictor.dispose();
  }
  return probs;
}

/** Test accuracy of a model once encoded as a blob and decoded again, i.e. as it would be served. */
export function servedAccuracy(model: ModelData, test: Examples, kernels: Kernels): number {
  const served = decodeModel(encodeModel(model));
  const classes = served.sizes[served.sizes.length - 1];
  const digits = argmaxRows(predictExamples(served, test, kernels), test.count, classes);
  let correct = 0;
  for (let i = 0; i < test.count; i++) if (digits[i] === test.labels[i]) correct++;
  return correct / test.count;
}

/** Runs a script's main and turns a `CliError` into one line on stderr and its exit status. */
export function runCli(script: string, main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .then(
      () => process.exit(0),
      (error: unknown) => {
        if (error instanceof CliError && error.status === 0) {
          console.log(error.message); // --help
          process.exit(0);
        }
        if (error instanceof CliError) {
          console.error(`${script}: ${error.message}`);
          process.exit(error.status);
        }
        console.error(error);
        process.exit(1);
      },
    );
}
