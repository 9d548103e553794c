import { prepareExamples } from '../../scripts/lib/batches.ts';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeModel, preparationOf } from '../../src/format/index.ts';
import { decodeMaster } from '../../src/format/master.ts';
import { decodeCheckSet } from '../../src/format/check-set.ts';
import {
  assetFiles,
  readFineTuneAssets,
  stratifiedPick,
  withFineTuneAssets,
} from '../../scripts/lib/fine-tune-assets.ts';
import { loadDataset, MNIST_DIR } from '../../scripts/lib/dataset.ts';
import { makeModel } from '../format/fixtures.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'edge-mlp-assets-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `n` examples whose pixels encode their own index (so a set's origin can be told from its images). */
function examples(n: number, offset: number) {
  const images = new Float32Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    images[i * 784] = ((i + offset) % 256) / 255;
    images[i * 784 + 1] = Math.floor((i + offset) / 256) / 255;
    labels[i] = (i * 7) % 10;
  }
  return { count: n, images, labels };
}
const originOf = (pixels: Float32Array, i: number) =>
  Math.round(pixels[i * 784] * 255) + 256 * Math.round(pixels[i * 784 + 1] * 255);

describe('stratifiedPick', () => {
  it('should take the first examples of each class, at most perClass of each', () => {
    expect(stratifiedPick(Uint8Array.from([1, 1, 2, 1, 0, 2]), 2)).toEqual([0, 1, 2, 4, 5]);
  });
});

describe('withFineTuneAssets (the training hook)', () => {
  it('should write the check set from validation, the replay set from train, and the int8 model its master', () => {
    const out = join(work, 'm.bin');
    const model = { ...makeModel([784, 4, 10], 'int8', 2) };
    const train = examples(3000, 0);
    const validation = examples(1500, 10_000);
    const written = withFineTuneAssets(model, out, train, validation);
    const files = assetFiles(out);
    const check = decodeCheckSet(new Uint8Array(readFileSync(files.checkSet)));
    const replay = decodeCheckSet(new Uint8Array(readFileSync(files.replaySet)));
    expect(check.count).toBe(1000);
    expect(replay.count).toBe(1000);
    for (let i = 0; i < check.count; i++) expect(originOf(check.images, i)).toBeGreaterThanOrEqual(10_000);
    for (let i = 0; i < replay.count; i++) expect(originOf(replay.images, i)).toBeLessThan(3000);
    expect(written.metadata.fineTuneSets).toEqual({
      checkSet: { split: 'validation', count: 1000 },
      replaySet: { split: 'train', count: 1000 },
    });
    const master = new Uint8Array(readFileSync(files.master));
    expect(decodeMaster(written, master)).toEqual(model.params);
    const read = readFineTuneAssets(out, 'mnist');
    expect(read.checkSet?.name).toMatch(/^checksets\/mnist-val-[0-9a-f]{8}\.bin$/);
    expect(read.replaySet?.name).toMatch(/^replay\/mnist-train-[0-9a-f]{8}\.bin$/);
    expect(read.master).toEqual(master);
  });

  it('should write no master for an f32 model and no check set without a validation split', () => {
    const out = join(work, 'f.bin');
    const written = withFineTuneAssets(
      makeModel([784, 4, 10], 'f32', 2),
      out,
      examples(50, 0),
      examples(0, 0),
    );
    expect(existsSync(assetFiles(out).master)).toBe(false);
    expect(existsSync(assetFiles(out).checkSet)).toBe(false);
    expect(written.metadata.master).toBeUndefined();
    expect((written.metadata.fineTuneSets as { checkSet: unknown }).checkSet).toBeNull();
  });

  it('should be what `npm run train` writes: a validation check set, never test images', async () => {
    const out = join(work, 'trained.bin');
    const args = [
      '--backend',
      'ts',
      '--limit',
      '1000',
      '--epochs',
      '1',
      '--hidden',
      '16',
      '--encoding',
      'int8',
      '--val-frac',
      '0.1',
    ];
    await new Promise<void>((done, fail) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'scripts/train.ts'), ...args, '--out', out, '--quiet'],
        { cwd: ROOT, timeout: 50_000 },
        (error) => (error ? fail(error) : done()),
      ),
    );
    const model = decodeModel(new Uint8Array(readFileSync(out)));
    const files = assetFiles(out);
    expect(decodeMaster(model, new Uint8Array(readFileSync(files.master))).length).toBe(model.params.length);
    const check = decodeCheckSet(new Uint8Array(readFileSync(files.checkSet)));
    expect(check.count).toBe(100); // 10% of 1000 training images
    // The sets hold images as the network sees them: prepared like /predict (the default --preprocess, deskewed).
    const raw = loadDataset(MNIST_DIR, { limit: 1000 });
    const preparation = preparationOf(model.metadata);
    expect(preparation).toEqual({ deskew: true });
    const [train, test] = [prepareExamples(raw.train, preparation!), prepareExamples(raw.test, preparation!)];
    const key = (px: Float32Array, i: number) =>
      Array.from(px.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)).join();
    const trainKeys = new Set(Array.from({ length: train.count }, (_, i) => key(train.images, i)));
    const testKeys = new Set(Array.from({ length: test.count }, (_, i) => key(test.images, i)));
    for (let i = 0; i < check.count; i++) {
      expect(trainKeys.has(key(check.images, i))).toBe(true); // from MNIST's training file (its validation split)
      expect(testKeys.has(key(check.images, i))).toBe(false);
    }
  });
});
