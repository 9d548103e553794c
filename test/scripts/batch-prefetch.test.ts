import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT } from '../../scripts/lib/augment.ts';
import { PrefetchedBatches } from '../../scripts/lib/batch-prefetch.ts';
import { BatchSource, type BatchOptions } from '../../scripts/lib/batches.ts';
import type { Dataset } from '../../scripts/lib/dataset.ts';
import { parseTrainArgs } from '../../scripts/lib/train-options.ts';
import { asServed, setUpTraining } from '../../scripts/lib/training-setup.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createRng } from '../../src/nn/index.ts';

const S = 28;
const SIZE = S * S;

/** Seeded digit-like pictures: a few random thick strokes, labelled 0-9 in turn. */
function scribbles(n: number, seed: number): { images: Float32Array; labels: Uint8Array } {
  const rng = createRng(seed);
  const images = new Float32Array(n * SIZE);
  for (let k = 0; k < n; k++) {
    for (let s = 0; s < 3; s++) {
      const [x0, y0, x1, y1] = [4 + rng() * 20, 4 + rng() * 20, 4 + rng() * 20, 4 + rng() * 20];
      for (let t = 0; t <= 1; t += 0.02) {
        const x = Math.round(x0 + (x1 - x0) * t);
        const y = Math.round(y0 + (y1 - y0) * t);
        images[k * SIZE + y * S + x] = images[k * SIZE + (y + 1) * S + x + 1] = rng();
      }
    }
  }
  return { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 10) };
}

const OPTIONS: BatchOptions = {
  seed: 7,
  augment: true,
  augmentation: DEFAULT_AUGMENT,
  flip: true,
  preprocess: true,
};

/** Every batch of `epochs` epochs, each copied out: rows, labels and pixels of the first `n` rows. */
function drain(source: BatchSource | PrefetchedBatches, epochs: number, batch: number) {
  const out: { n: number; labels: number[]; pixels: Float32Array }[] = [];
  for (let e = 0; e < epochs; e++) {
    source.shuffle();
    for (let start = 0; start < source.count; start += batch) {
      const n = source.fill(start);
      out.push({ n, labels: Array.from(source.labels.subarray(0, n)), pixels: source.x.slice(0, n * SIZE) });
    }
  }
  return out;
}

const open: PrefetchedBatches[] = [];
function prefetched(...args: ConstructorParameters<typeof PrefetchedBatches>): PrefetchedBatches {
  const batches = new PrefetchedBatches(...args);
  open.push(batches);
  return batches;
}
afterEach(() => open.splice(0).forEach((b) => b.dispose()));

describe('PrefetchedBatches', () => {
  const n = 45;
  const batch = 8; // 6 batches an epoch, the last one of 5 rows
  const { images, labels } = scribbles(n, 3);

  it('should give the serial source’s batches bit for bit, over epochs, with augmentation, flips and preprocessing', () => {
    const serial = drain(
      new BatchSource(images, labels, S, S, batch, new Float32Array(batch * SIZE), OPTIONS),
      3,
      batch,
    );
    const source = prefetched(images, labels, S, S, batch, new Float32Array(batch * SIZE), OPTIONS);
    expect(source.describe()).toBe(
      new BatchSource(images, labels, S, S, batch, new Float32Array(batch * SIZE), OPTIONS).describe(),
    );
    const ahead = drain(source, 3, batch);
    expect(ahead.map((b) => b.n)).toEqual([8, 8, 8, 8, 8, 5, 8, 8, 8, 8, 8, 5, 8, 8, 8, 8, 8, 5]);
    expect(ahead.length).toBe(serial.length);
    for (let k = 0; k < serial.length; k++) {
      expect(ahead[k].labels, `batch ${k}`).toEqual(serial[k].labels);
      expect(
        Buffer.from(ahead[k].pixels.buffer).equals(Buffer.from(serial[k].pixels.buffer)),
        `batch ${k}`,
      ).toBe(true);
    }
    // The batches really were changed at random: the two epochs differ.
    expect(ahead[6].pixels).not.toEqual(ahead[0].pixels);
    expect(source.workerSeconds).toBeGreaterThan(0);
  });

  it('should fail with the thread’s own message', () => {
    // 27×27 images cannot be preprocessed: BatchSource throws in the thread.
    const small = new Float32Array(n * 27 * 27);
    const source = prefetched(small, labels, 27, 27, batch, new Float32Array(batch * 27 * 27), OPTIONS);
    source.shuffle();
    expect(() => source.fill(0)).toThrow(/^batch worker: Error: preprocessing needs 28×28 images, not 27×27/);
  });

  it('should refuse a new epoch after one stopped early (the thread has drawn ahead)', () => {
    const source = prefetched(images, labels, S, S, batch, new Float32Array(batch * SIZE), OPTIONS);
    source.shuffle();
    source.fill(0);
    expect(() => source.shuffle()).toThrow(/stopped early/);
  });
});

/** A dataset whose training split is `n` scribbles (no test split). */
function scribbleDataset(n: number, seed: number): Dataset {
  return {
    name: 'scribbles',
    dir: '.',
    rows: S,
    cols: S,
    train: { count: n, ...scribbles(n, seed) },
    test: { count: 0, images: new Float32Array(0), labels: new Uint8Array(0) },
    files: [],
  };
}

describe('setUpTraining with --prefetch', () => {
  it('should train to the same parameters as without (--no-prefetch), outlier exposure included', () => {
    const dataset = scribbleDataset(60, 5);
    const params = (flags: string[]) => {
      const o = parseTrainArgs([
        ...['--hidden', '16', '--batch', '16', '--epochs', '2'],
        // 4 non-digits a batch from a pool of 60, without Fashion-MNIST (quick to draw).
        ...['--oe', '4', '--limit', '60', '--oe-fashion', '/nonexistent'],
        ...flags,
      ]);
      const lines: string[] = [];
      const run = setUpTraining(dataset, dataset.train, o, createTsKernels(), { log: (l) => lines.push(l) });
      expect(run.batches instanceof PrefetchedBatches).toBe(o.prefetch);
      run.batches.describe();
      expect(lines.join('\n')).toMatch(/outlier exposure, 4 non-digits/);
      for (let e = 0; e < 2; e++) for (const _ of run.epoch());
      run.dispose();
      return run.net.params.slice();
    };
    expect(parseTrainArgs([]).prefetch).toBe(true);
    const serial = params(['--no-prefetch']);
    const ahead = params([]);
    expect(Buffer.from(ahead.buffer).equals(Buffer.from(serial.buffer))).toBe(true);
  });
});

describe('setUpTraining prepares batches as the model is served', () => {
  const dataset = scribbleDataset(40, 9);
  const hex = (x: Float32Array, i: number) =>
    Buffer.from(x.slice(i * SIZE, (i + 1) * SIZE).buffer).toString('hex');
  const rowsOf = (x: Float32Array) => new Set(Array.from({ length: 40 }, (_, j) => hex(x, j)));
  const deskewed = rowsOf(asServed(dataset.train, { preprocess: true, deskew: true }).images);
  const plain = rowsOf(asServed(dataset.train, { preprocess: true, deskew: false }).images);
  /** How many rows of one batch of all 40 are deskewed and how many plainly prepared. */
  const batchRows = (flags: string[]) => {
    const o = parseTrainArgs(['--hidden', '8', '--batch', '40', '--no-augment', '--oe', '0', ...flags]);
    const run = setUpTraining(dataset, dataset.train, o, createTsKernels());
    run.batches.shuffle();
    expect(run.batches.fill(0)).toBe(40);
    let d = 0;
    let p = 0;
    for (let i = 0; i < 40; i++) {
      const row = hex(run.batches.x, i);
      if (deskewed.has(row)) d++;
      else if (plain.has(row)) p++;
    }
    const line = run.batches.describe();
    run.dispose();
    return { d, p, line };
  };

  it('should tell the two preparations apart on these pictures', () => {
    expect([...deskewed].filter((r) => plain.has(r)).length).toBeLessThan(5);
  });

  it('should deskew every training image with --deskew-share 1, as validation, test and /predict are', () => {
    for (const flags of [
      ['--deskew-share', '1'],
      ['--deskew-share', '1', '--no-prefetch'],
    ]) {
      const { d, line } = batchRows(flags);
      expect(d, flags.join(' ')).toBe(40);
      expect(line).toMatch(/with deskewing/);
    }
  });

  it('should prepare about half deskewed and half plainly by default, and all plainly with --no-deskew', () => {
    expect(parseTrainArgs([]).deskewShare).toBe(0.5);
    const mixed = batchRows([]);
    expect(mixed.d + mixed.p).toBe(40);
    expect(mixed.d).toBeGreaterThan(8);
    expect(mixed.p).toBeGreaterThan(8);
    expect(mixed.line).toMatch(/50% deskewed/);
    const none = batchRows(['--no-deskew']);
    expect(none.p).toBe(40);
    expect(none.line).toMatch(/preprocessing$/);
  });
});
