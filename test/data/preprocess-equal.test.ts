/**
 * The preprocessing's specialised loops (grey without alpha, uniform borders, speck removal, resampling by
 * per-axis tables, cached logarithms in the temperature) give the same numbers, bit for bit, as the direct code
 * they replaced (`preprocess-reference.ts`): on MNIST test images as the JSON API passes them, and on pictures of
 * every channel layout, size and paper that exercise the other branches.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cropToInk } from '../../scripts/lib/corruptions.ts';
import { loadDataset, MNIST_DIR } from '../../scripts/lib/dataset.ts';
import {
  fromPixels,
  preprocess,
  PreprocessError,
  preprocessInkBoth,
  resample,
  toGray,
  toInk,
  type RasterImage,
} from '../../src/data/preprocess.ts';
import { applyTemperature } from '../../src/data/verdict.ts';
import { createRng } from '../../src/nn/rng.ts';
import * as reference from './preprocess-reference.ts';

const { test } = loadDataset(MNIST_DIR, { limit: 1 });

/** Bytes of `a` and `b` equal: same floats, signs of zero and NaNs included. */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

/** `preprocess` by both codes: the same pixels, or the same error code. */
function outcome(fn: (image: RasterImage) => Float32Array, image: RasterImage): Float32Array | string {
  try {
    return fn(image);
  } catch (err) {
    if (err instanceof PreprocessError) return err.code;
    throw err;
  }
}

function expectSame(image: RasterImage): void {
  const ours = outcome(preprocess, image);
  const ref = outcome(reference.preprocess, image);
  if (typeof ours === 'string' || typeof ref === 'string') expect(ours).toBe(ref);
  else expect(sameBits(ours, ref)).toBe(true);
}

/** A picture: strokes (random thick segments) of `ink` on `paper`, optional noise, in any channel layout. */
function picture(rand: () => number, width: number, height: number, channels: 1 | 2 | 3 | 4): RasterImage {
  const maxValue = rand() < 0.5 ? 255 : 65535;
  const dark = rand() < 0.5;
  const paper = dark ? 0.05 * rand() : 1 - 0.05 * rand();
  const noise = rand() < 0.3 ? 0.08 * rand() : 0;
  const ink = new Float32Array(width * height);
  const strokes = 1 + Math.floor(rand() * 4);
  for (let s = 0; s < strokes; s++) {
    const [x0, y0, x1, y1] = [rand() * width, rand() * height, rand() * width, rand() * height];
    const r = 0.5 + rand() * Math.max(1, Math.min(width, height) / 10);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const t = Math.max(
          0,
          Math.min(1, ((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2 || 1)),
        );
        const d = Math.hypot(x - x0 - t * (x1 - x0), y - y0 - t * (y1 - y0));
        ink[y * width + x] = Math.max(ink[y * width + x], Math.max(0, Math.min(1, r - d + 0.5)));
      }
    }
  }
  const data = new Uint16Array(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    const level = Math.max(0, Math.min(1, (dark ? paper + ink[i] : paper - ink[i]) + noise * (rand() - 0.5)));
    const v = Math.round(level * maxValue);
    const colour = channels >= 3 ? [v, Math.round(v * (0.8 + 0.2 * rand())), v] : [v];
    const alpha = channels === 2 || channels === 4 ? [rand() < 0.2 ? 0 : maxValue] : [];
    data.set([...colour, ...alpha], i * channels);
  }
  return { width, height, channels, data, maxValue };
}

describe('the preprocessing equals the direct code it replaced, bit for bit', () => {
  it('on 2,000 MNIST test images as the JSON API passes them (0-1 floats), and inverted', () => {
    for (let i = 0; i < 2000; i++) {
      const x = test.images.slice(i * 784, (i + 1) * 784);
      expectSame(fromPixels(x));
      expect(
        sameBits(
          toInk(toGray(fromPixels(x)), 28, 28),
          reference.toInk(reference.toGray(fromPixels(x)), 28, 28),
        ),
      ).toBe(true);
      expectSame(fromPixels(x.map((v) => 1 - v)));
    }
  });

  it('on MNIST images shrunk, grown and shifted (both resampling branches, uneven borders)', () => {
    const rand = createRng(7);
    for (let i = 0; i < 300; i++) {
      const src = test.images.slice(i * 784, (i + 1) * 784);
      const side = 8 + Math.floor(rand() * 90);
      const width = side;
      const height = Math.max(4, Math.round(side * (0.6 + rand())));
      const big = resample(src, 28, 28, width, height);
      expect(sameBits(big, reference.resample(src, 28, 28, width, height))).toBe(true);
      expectSame({ width, height, channels: 1, data: big, maxValue: 1 });
      // Ink touching an edge: the border is not uniform.
      const shifted = new Float32Array(784);
      const dx = Math.floor(rand() * 9) - 4;
      for (let y = 0; y < 28; y++)
        for (let x = 0; x < 28; x++)
          shifted[y * 28 + x] = src[y * 28 + Math.min(27, Math.max(0, x + dx * 2))];
      expectSame(fromPixels(shifted));
    }
  });

  it('on MNIST digits cropped to their ink, either way round (ink on every edge of the frame)', () => {
    for (let i = 0; i < 300; i++) {
      const crop = cropToInk(test.images.slice(i * 784, (i + 1) * 784));
      expectSame(crop);
      expectSame({ ...crop, data: Float32Array.from(crop.data, (v) => 1 - v) });
    }
  });

  it('on pictures of every channel layout, size, paper and noise level', () => {
    const rand = createRng(11);
    for (let i = 0; i < 400; i++) {
      const channels = (1 + (i % 4)) as 1 | 2 | 3 | 4;
      const width = 3 + Math.floor(rand() * 120);
      const height = 3 + Math.floor(rand() * 120);
      const image = picture(rand, width, height, channels);
      expectSame(image);
      expect(sameBits(toGray(image), reference.toGray(image))).toBe(true);
    }
  });

  it("makes the same ink from pixels in [0, 1] without toGray (the JSON path's shortcut), −0 included", () => {
    const rand = createRng(13);
    for (let i = 0; i < 500; i++) {
      const x = test.images.slice(i * 784, (i + 1) * 784);
      // Some −0 pixels, some inverted images (light paper), some with ink on the border.
      for (let j = 0; j < 784; j++) if (x[j] === 0 && rand() < 0.3) x[j] = -0;
      const image = i % 3 === 1 ? x.map((v) => (rand() < 0.1 ? -0 : 1 - v)) : x;
      if (i % 5 === 2) for (let j = 0; j < 28; j++) image[j] = rand();
      expect(
        sameBits(toInk(image, 28, 28), reference.toInk(reference.toGray(fromPixels(image)), 28, 28)),
      ).toBe(true);
    }
  });

  it('on blank, uniform and single-speck images (the error paths and the uniform-border shortcut)', () => {
    for (const level of [0, 0.3, 1]) expectSame(fromPixels(new Float32Array(784).fill(level)));
    const speck = new Float32Array(784);
    speck[14 * 28 + 14] = 1;
    expectSame(fromPixels(speck));
    speck[14 * 28 + 15] = 1;
    expectSame(fromPixels(speck));
  });

  it('resamples random arrays identically at every scale, including 1:1', () => {
    const rand = createRng(3);
    for (let i = 0; i < 500; i++) {
      const [sw, sh] = [1 + Math.floor(rand() * 60), 1 + Math.floor(rand() * 60)];
      const [tw, th] = i % 5 === 0 ? [sw, sh] : [1 + Math.floor(rand() * 60), 1 + Math.floor(rand() * 60)];
      const src = Float32Array.from({ length: sw * sh }, () => (rand() < 0.5 ? 0 : rand()));
      expect(sameBits(resample(src, sw, sh, tw, th), reference.resample(src, sw, sh, tw, th))).toBe(true);
    }
  });

  it('applies a temperature with the same numbers as computing each logarithm twice', () => {
    const rand = createRng(5);
    for (const t of [0.5, 0.6939, 1.7]) {
      const probs = Float32Array.from({ length: 10 * 50 }, () => rand() + 1e-6);
      for (let r = 0; r < probs.length; r += 10) {
        let s = 0;
        for (let j = 0; j < 10; j++) s += probs[r + j];
        for (let j = 0; j < 10; j++) probs[r + j] /= s;
      }
      const expected = probs.slice();
      const inv = 1 / t;
      for (let row = 0; row < expected.length; row += 10) {
        let max = -Infinity;
        for (let j = 0; j < 10; j++) max = Math.max(max, Math.log(expected[row + j]));
        let sum = 0;
        for (let j = 0; j < 10; j++) {
          const v = Math.exp((Math.log(expected[row + j]) - max) * inv);
          expected[row + j] = v;
          sum += v;
        }
        for (let j = 0; j < 10; j++) expected[row + j] /= sum;
      }
      expect(sameBits(applyTemperature(probs, 10, t), expected)).toBe(true);
    }
  });
});

/**
 * SHA-256 of the prepared inputs, both preparations, of MNIST test images (the JSON path) and of pictures of every
 * layout, as the code of commit e0b1cd4 made them (the preparation the committed default model was trained on):
 * buffer reuse and cached tables must not change a bit. Changed on purpose twice in session 10: pictures whose
 * ink runs into the frame (a digit cropped to its ink) take the frame's neighbour differences as their noise level
 * (`edgeNoise`), and a paper whose light tilts across the picture is flattened first (`flattenShading`); every
 * MNIST training and test digit is prepared as before, bit for bit (checked over all 70,000 with each change),
 * some of the random pictures below are not.
 */
const PREPARED_DIGEST = 'aa41915d4b0c8210c0de4ee9bedfc7cfce2428d54b05e017b96e24c79b8bf99e';

describe('the preparation the default model was trained on', () => {
  it('is unchanged bit for bit, plain and deskewed', () => {
    const hash = createHash('sha256');
    const add = (a: Float32Array) => hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    for (let i = 0; i < 2000; i++) {
      const ink = toInk(test.images.slice(i * 784, (i + 1) * 784), 28, 28);
      try {
        const both = preprocessInkBoth(ink, 28, 28);
        add(both.plain);
        add(both.deskewed);
        add(preprocess(fromPixels(test.images.subarray(i * 784, (i + 1) * 784)), { deskew: true }));
      } catch (err) {
        if (!(err instanceof PreprocessError)) throw err;
        hash.update(err.code);
      }
    }
    const rand = createRng(17);
    for (let i = 0; i < 300; i++) {
      const image = picture(
        rand,
        3 + Math.floor(rand() * 150),
        3 + Math.floor(rand() * 150),
        (1 + (i % 4)) as 1,
      );
      for (const deskew of [false, true]) {
        const out = outcome((im) => preprocess(im, { deskew }), image);
        if (typeof out === 'string') hash.update(out);
        else add(out);
      }
    }
    expect(hash.digest('hex')).toBe(PREPARED_DIGEST);
  });
});
