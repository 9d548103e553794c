/**
 * The JSON path's input and preparation (ink maps with their extent found from the speck masks, buffers reused,
 * the prepared image written in place) give the same numbers, bit for bit, as the code of session 10's start
 * (`preprocess-deskew-reference.ts`, with the older `preprocess-reference.ts` for the pixels' ink): plain and
 * deskewed, on MNIST test images and on generated digits with thick and thin strokes, blank margins, ink touching
 * the edges, light and noisy paper, specks, near-empty and empty images; and on larger pictures (uploads).
 */
import { describe, expect, it } from 'vitest';
import { loadDataset, MNIST_DIR } from '../../scripts/lib/dataset.ts';
import {
  deskew,
  fromPixels,
  inkExtent,
  PreprocessError,
  preprocessInk,
  preprocessInkBoth,
  toInk,
  toInkInto,
} from '../../src/data/preprocess.ts';
import { inkStatsOf, isBlankInk } from '../../src/data/verdict.ts';
import { createRng } from '../../src/nn/rng.ts';
import { readConfig } from '../../src/worker/config.ts';
import { ApiError } from '../../src/worker/errors.ts';
import { jsonInput, jsonModelInput } from '../../src/worker/json-input.ts';
import * as before from './preprocess-deskew-reference.ts';
import * as reference from './preprocess-reference.ts';

const { test } = loadDataset(MNIST_DIR, { limit: 1 });
const cfg = readConfig({} as never);
const DESKEWED = { training: { preprocess: true, deskew: true } };
const PLAIN = { training: { preprocess: true } };

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

/** `fn`'s pixels, or the code of the preparation's refusal. */
function outcome(fn: () => Float32Array): Float32Array | string {
  try {
    return fn().slice();
  } catch (err) {
    if (err instanceof PreprocessError) return err.code;
    if (err instanceof ApiError) return err.code;
    throw err;
  }
}

function expectSameOutcome(ours: Float32Array | string, ref: Float32Array | string): void {
  if (typeof ours === 'string' || typeof ref === 'string') {
    // The API's 422 is the preparation's EMPTY_IMAGE.
    expect(ours === 'empty_image' ? 'EMPTY_IMAGE' : ours).toBe(ref);
  } else expect(sameBits(ours, ref)).toBe(true);
}

/** The old code's blank test, with the old `inkStatsOf`. */
function blankBefore(ink: Float32Array): boolean {
  const { mass, extent } = before.inkStatsOf(ink, 28, 28);
  return mass < 0.005 || extent < 0.1;
}

/**
 * A JSON body's image checked end to end against the old code: the network's pixels, the ink map, the blank
 * flag and, for both preparations and `preprocess` left out or true, what the network is given.
 */
function expectJsonPathSame(image: number[] | number[][], pixelScale?: '0-255' | '0-1'): void {
  const flat = (image as (number | number[])[]).flat();
  const scale = pixelScale ?? (flat.some((v) => v > 1) ? '0-255' : '0-1');
  const x = Float32Array.from(flat, (v) => v / (scale === '0-255' ? 255 : 1));
  const inkRef = reference.toInk(reference.toGray(fromPixels(x)), 28, 28);
  const blankRef = blankBefore(inkRef);
  for (const preprocess of [undefined, true]) {
    const body = { image, ...(pixelScale ? { pixelScale } : {}), ...(preprocess ? { preprocess } : {}) };
    const input = outcomeOfInput(body);
    if (typeof input === 'string') {
      // Only `preprocess: true` refuses, and only an image the old preparation found empty.
      expect(preprocess).toBe(true);
      expect(blankRef).toBe(false);
      expect(input).toBe('empty_image');
      expect(outcome(() => before.preprocessInk(inkRef, 28, 28))).toBe('EMPTY_IMAGE');
      continue;
    }
    expect(sameBits(input.x, x)).toBe(true);
    expect(sameBits(input.ink, inkRef)).toBe(true);
    expect(input.blank).toEqual([blankRef]);
    for (const [metadata, deskew] of [
      [DESKEWED, true],
      [PLAIN, false],
    ] as const) {
      const ours = outcome(() => jsonModelInput(input, metadata));
      const ref = blankRef ? x : outcome(() => before.preprocessInk(inkRef, 28, 28, { deskew }));
      expectSameOutcome(ours, ref);
    }
    // The input is not changed by preparing it.
    expect(sameBits(input.x, x)).toBe(true);
  }
}

function outcomeOfInput(body: object): ReturnType<typeof jsonInput> | string {
  try {
    return jsonInput(body as Parameters<typeof jsonInput>[0], cfg);
  } catch (err) {
    if (err instanceof ApiError) return err.code;
    throw err;
  }
}

/**
 * A generated 28×28 digit-like image, 0-255 integers: 1-4 strokes, thin or thick, anywhere (often touching an
 * edge), sometimes shrunk into a corner (wide blank margins), on black, white or noisy paper, with specks.
 */
function digit(rand: () => number): number[] {
  const ink = new Float64Array(784);
  const small = rand() < 0.25;
  const [ox, oy, span] = small ? [rand() * 20, rand() * 20, 3 + rand() * 8] : [-2, -2, 32];
  const strokes = 1 + Math.floor(rand() * 4);
  const radius = rand() < 0.3 ? 2 + rand() * 2.5 : 0.4 + rand() * 1.2;
  for (let s = 0; s < strokes; s++) {
    const [x0, y0, x1, y1] = [0, 0, 0, 0].map((_, k) => (k % 2 ? oy : ox) + rand() * span);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const len = (x1 - x0) ** 2 + (y1 - y0) ** 2 || 1;
        const t = Math.max(0, Math.min(1, ((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / len));
        const d = Math.hypot(x - x0 - t * (x1 - x0), y - y0 - t * (y1 - y0));
        ink[y * 28 + x] = Math.max(ink[y * 28 + x], Math.max(0, Math.min(1, radius - d + 0.5)));
      }
    }
  }
  const specks = rand() < 0.4 ? Math.floor(rand() * 6) : 0;
  for (let s = 0; s < specks; s++) ink[Math.floor(rand() * 784)] = 0.3 + 0.7 * rand();
  const paper = rand();
  const light = paper < 0.3;
  const noise = paper > 0.8 ? 0.1 * rand() : 0;
  return Array.from(ink, (v) => {
    const level = light ? 1 - v : v;
    return Math.round(
      255 * Math.max(0, Math.min(1, level + noise * (rand() - 0.5) + (light ? 0 : noise / 2))),
    );
  });
}

const rowsOf = (flat: number[]) => Array.from({ length: 28 }, (_, y) => flat.slice(y * 28, y * 28 + 28));

describe("the JSON path's input and preparation equal the code they replaced, bit for bit", () => {
  it('on 2,000 MNIST test images sent as 0-255 integers (the web form), plain and deskewed', () => {
    for (let i = 0; i < 2000; i++) {
      const image = Array.from(test.images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
      expectJsonPathSame(image);
    }
  });

  it('on MNIST images as 0-1 floats, as 28 rows, and shifted against an edge', () => {
    const rand = createRng(21);
    for (let i = 0; i < 300; i++) {
      const src = Array.from(test.images.subarray(i * 784, (i + 1) * 784));
      expectJsonPathSame(src, '0-1');
      expectJsonPathSame(rowsOf(src.map((v) => Math.round(v * 255))));
      const dx = Math.floor(rand() * 13) - 6;
      const dy = Math.floor(rand() * 13) - 6;
      const shifted = src.map((_, j) => {
        const [x, y] = [(j % 28) + dx, Math.floor(j / 28) + dy];
        return x < 0 || x > 27 || y < 0 || y > 27 ? 0 : src[y * 28 + x];
      });
      expectJsonPathSame(shifted, i % 2 ? '0-1' : undefined);
    }
  });

  it('on 3,000 generated digits: thick and thin strokes, margins, edges, light and noisy paper, specks', () => {
    const rand = createRng(23);
    for (let i = 0; i < 3000; i++) {
      const image = digit(rand);
      expectJsonPathSame(i % 7 === 3 ? rowsOf(image) : image, i % 5 === 0 ? '0-255' : undefined);
    }
  });

  it('on near-empty and empty images: a few pixels, a dash, one full row, uniform paper, −0', () => {
    const images: number[][] = [new Array(784).fill(0), new Array(784).fill(255), new Array(784).fill(77)];
    for (const at of [0, 27, 28 * 14 + 14, 783]) {
      const one = new Array(784).fill(0);
      one[at] = 255;
      images.push(one);
      const two = one.slice();
      two[at === 783 ? 782 : at + 1] = 200;
      images.push(two);
    }
    const dash = new Array(784).fill(0);
    for (let x = 8; x < 20; x++) dash[28 * 13 + x] = 255;
    images.push(dash);
    const row = new Array(784).fill(0);
    for (let x = 0; x < 28; x++) row[x] = 255;
    images.push(row);
    const column = new Array(784).fill(0);
    for (let y = 0; y < 28; y++) column[y * 28 + 27] = 180;
    images.push(column);
    for (const image of images) expectJsonPathSame(image);
    const faint = Array.from({ length: 784 }, (_, j) => (j % 28 === 14 && j > 200 && j < 600 ? 0.12 : -0));
    expectJsonPathSame(faint, '0-1');
  });
});

describe('ink maps and their extent', () => {
  it('toInkInto writes what toInk makes into a used buffer and finds inkExtent of it', () => {
    const rand = createRng(29);
    const map = new Float32Array(784).fill(0.5);
    for (let i = 0; i < 500; i++) {
      const x = Float32Array.from(digit(rand), (v) => v / 255);
      const extent = toInkInto(x, 28, 28, map);
      expect(sameBits(map, reference.toInk(reference.toGray(fromPixels(x)), 28, 28))).toBe(true);
      expect(extent).toEqual(inkExtent(map, 28, 28));
      expect(inkStatsOf(map, 28, 28)).toEqual(before.inkStatsOf(map, 28, 28));
      expect(isBlankInk(map, 28, 28)).toBe(blankBefore(map));
    }
  });

  it('on pictures wider than the masks (30 px) and larger than the deskewing side, plain and deskewed', () => {
    const rand = createRng(31);
    for (let i = 0; i < 120; i++) {
      const [w, h] = [20 + Math.floor(rand() * 160), 20 + Math.floor(rand() * 160)];
      const gray = new Float32Array(w * h);
      const strokes = 1 + Math.floor(rand() * 3);
      for (let s = 0; s < strokes; s++) {
        const [x0, y0, x1, y1] = [rand() * w, rand() * h, rand() * w, rand() * h];
        const r = 1 + rand() * (Math.min(w, h) / 12);
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) {
            const len = (x1 - x0) ** 2 + (y1 - y0) ** 2 || 1;
            const t = Math.max(0, Math.min(1, ((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / len));
            const d = Math.hypot(x - x0 - t * (x1 - x0), y - y0 - t * (y1 - y0));
            gray[y * w + x] = Math.max(gray[y * w + x], Math.max(0, Math.min(1, r - d + 0.5)));
          }
      }
      if (i % 3 === 0) for (let j = 0; j < gray.length; j++) gray[j] = 1 - gray[j];
      const ink = toInk(gray, w, h);
      const inkRef = reference.toInk(gray, w, h);
      expect(sameBits(ink, inkRef)).toBe(true);
      for (const deskew of [false, true]) {
        expectSameOutcome(
          outcome(() => preprocessInk(ink, w, h, { deskew })),
          outcome(() => before.preprocessInk(inkRef, w, h, { deskew })),
        );
      }
      const both = outcome(() => {
        const { plain, deskewed } = preprocessInkBoth(ink, w, h);
        return Float32Array.of(...plain, ...deskewed);
      });
      const bothRef = outcome(() =>
        Float32Array.of(
          ...before.preprocessInk(inkRef, w, h, {}),
          ...before.preprocessInk(inkRef, w, h, { deskew: true }),
        ),
      );
      expectSameOutcome(both, bothRef);
    }
  });

  it('deskew answers arrays of its own, not the preparation scratch', () => {
    const box = Float32Array.from({ length: 20 * 20 }, (_, i) => (i % 20 === Math.floor(i / 20) ? 1 : 0));
    const first = deskew(box, 20, 20);
    const kept = first.box.slice();
    const ref = before.deskew(box, 20, 20);
    expect(first.w).toBe(ref.w);
    expect(sameBits(first.box, ref.box)).toBe(true);
    preprocessInk(toInk(Float32Array.from(test.images.subarray(0, 784)), 28, 28), 28, 28, { deskew: true });
    expect(sameBits(first.box, kept)).toBe(true);
  });
});
