import { describe, expect, it } from 'vitest';
import {
  affineOf,
  Augmenter,
  convolve,
  DEFAULT_AUGMENT,
  gaussianKernel,
  morph,
  warp,
  type AugmentConfig,
} from '../../scripts/lib/augment.ts';
import { BatchSource, prepareExamples } from '../../scripts/lib/batches.ts';
import { CORRUPTIONS } from '../../scripts/lib/corruptions.ts';
import { fromPixels, preprocess } from '../../src/data/preprocess.ts';
import { createRng } from '../../src/nn/index.ts';

const S = 28;
const OFF: AugmentConfig = {
  rotate: 0,
  scale: 0,
  shear: 0,
  shift: 0,
  elastic: 0,
  elasticAlpha: 0,
  thickness: 0,
  blur: 0,
  lowres: 0,
  clean: 0,
};

/** A bar 16 px long and 2 px wide through the centre, horizontal. */
function bar(): Float32Array {
  const img = new Float32Array(S * S);
  for (let x = 6; x < 22; x++) for (const y of [13, 14]) img[y * S + x] = 1;
  return img;
}

/** Orientation of the ink in degrees, y pointing down (second central moments). */
function orientation(img: Float32Array): number {
  let m = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < img.length; i++) {
    m += img[i];
    cx += (i % S) * img[i];
    cy += Math.floor(i / S) * img[i];
  }
  cx /= m;
  cy /= m;
  let mu20 = 0;
  let mu02 = 0;
  let mu11 = 0;
  for (let i = 0; i < img.length; i++) {
    const dx = (i % S) - cx;
    const dy = Math.floor(i / S) - cy;
    mu20 += dx * dx * img[i];
    mu02 += dy * dy * img[i];
    mu11 += dx * dy * img[i];
  }
  return (0.5 * Math.atan2(2 * mu11, mu20 - mu02) * 180) / Math.PI;
}

/** Seeded digit-like pictures: a few random thick strokes. */
function scribbles(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n * S * S);
  for (let k = 0; k < n; k++) {
    const img = out.subarray(k * S * S, (k + 1) * S * S);
    for (let s = 0; s < 3; s++) {
      const [x0, y0, x1, y1] = [4 + rng() * 20, 4 + rng() * 20, 4 + rng() * 20, 4 + rng() * 20];
      for (let t = 0; t <= 1; t += 0.02) {
        const x = Math.round(x0 + (x1 - x0) * t);
        const y = Math.round(y0 + (y1 - y0) * t);
        for (const [dx, dy] of [
          [0, 0],
          [1, 0],
          [0, 1],
          [1, 1],
        ])
          img[(y + dy) * S + x + dx] = 1;
      }
    }
  }
  return out;
}

describe('warp', () => {
  it('should leave an image unchanged under the identity', () => {
    const src = scribbles(1, 3);
    const dst = new Float32Array(S * S);
    warp(src, dst, S, affineOf(0, 1, 1, 0));
    expect(Math.max(...dst.map((v, i) => Math.abs(v - src[i])))).toBeLessThan(1e-6);
  });

  it('should turn a horizontal bar by the angle asked (counter-clockwise on screen)', () => {
    const dst = new Float32Array(S * S);
    expect(orientation(bar())).toBeCloseTo(0, 5);
    warp(bar(), dst, S, affineOf(30, 1, 1, 0));
    // y points down, so counter-clockwise on screen is a negative angle in (x, y).
    expect(orientation(dst)).toBeGreaterThan(-31.5);
    expect(orientation(dst)).toBeLessThan(-28.5);
    warp(bar(), dst, S, affineOf(-12, 1, 1, 0));
    expect(Math.abs(orientation(dst) - 12)).toBeLessThan(1.5);
  });

  it('should move the ink by the translation asked', () => {
    const dst = new Float32Array(S * S);
    const dot = new Float32Array(S * S);
    dot[10 * S + 10] = 1;
    warp(dot, dst, S, affineOf(0, 1, 1, 0, 3, -2));
    expect(dst[8 * S + 13]).toBeCloseTo(1, 6);
  });
});

describe('morph', () => {
  it('should grow a dot into a 3×3 square when thicker and shrink a 3×3 square to its centre when thinner', () => {
    const dot = new Float32Array(S * S);
    dot[14 * S + 14] = 1;
    const thick = new Float32Array(S * S);
    morph(dot, thick, S, true);
    expect(thick.reduce((a, v) => a + v, 0)).toBe(9);
    expect(thick[13 * S + 13]).toBe(1);
    const thin = new Float32Array(S * S);
    morph(thick, thin, S, false);
    expect(thin.reduce((a, v) => a + v, 0)).toBe(1);
    expect(thin[14 * S + 14]).toBe(1);
  });
});

describe('convolve', () => {
  it('should keep the mass of ink away from the edges and spread a dot symmetrically', () => {
    const k = gaussianKernel(1);
    expect(k.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
    const img = new Float32Array(S * S);
    img[14 * S + 14] = 1;
    convolve(img, S, k, new Float32Array(S * S));
    expect(img.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
    expect(img[14 * S + 14]).toBeLessThan(0.2);
    expect(img[13 * S + 14]).toBeCloseTo(img[14 * S + 15], 6);
  });
});

describe('Augmenter', () => {
  const images = scribbles(50, 1);
  const run = (config: AugmentConfig, seed: number) => {
    const a = new Augmenter(config, seed);
    const out = new Float32Array(images.length);
    for (let i = 0; i < 50; i++) {
      a.apply(images.subarray(i * S * S, (i + 1) * S * S), out.subarray(i * S * S, (i + 1) * S * S));
    }
    return out;
  };

  it('should leave about the share `clean` asks of the images exactly as they are', () => {
    const strong: AugmentConfig = { ...OFF, rotate: 30, shift: 2, clean: 0.3 };
    const aug = new Augmenter(strong, 7);
    const src = bar();
    const dst = new Float32Array(S * S);
    let unchanged = 0;
    for (let i = 0; i < 1000; i++) {
      aug.apply(src, dst);
      if (dst.every((v, j) => v === src[j])) unchanged++;
    }
    expect(unchanged).toBeGreaterThan(250);
    expect(unchanged).toBeLessThan(350);
  });

  it('should give the same images for the same seed and different ones for another', () => {
    const a = run(DEFAULT_AUGMENT, 5);
    expect(run(DEFAULT_AUGMENT, 5)).toEqual(a);
    expect(run(DEFAULT_AUGMENT, 6)).not.toEqual(a);
  });

  it('should keep pixels in [0, 1] with every transform at full strength', () => {
    const all: AugmentConfig = { ...DEFAULT_AUGMENT, elastic: 1, thickness: 1, blur: 1, lowres: 1, clean: 0 };
    const out = run(all, 2);
    expect(Math.min(...out)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...out)).toBeLessThanOrEqual(1);
    expect(out.some((v) => v > 0.5)).toBe(true);
  });

  it('should change nothing with every transform off', () => {
    expect(run(OFF, 1)).toEqual(images);
  });

  it('should change stroke width only in the direction drawn: thicker adds ink, thinner removes it', () => {
    const ink = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
    const out = run({ ...OFF, thickness: 1 }, 3);
    let thicker = 0;
    let thinner = 0;
    for (let i = 0; i < 50; i++) {
      const before = ink(images.subarray(i * S * S, (i + 1) * S * S));
      const after = ink(out.subarray(i * S * S, (i + 1) * S * S));
      if (after > before) thicker++;
      else if (after < before) thinner++;
    }
    expect(thicker).toBeGreaterThan(10);
    expect(thinner).toBeGreaterThan(10);
    expect(thicker + thinner).toBe(50);
  });
});

describe('BatchSource', () => {
  const n = 20;
  const images = scribbles(n, 9);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);

  it('should keep each image with its own label while augmenting', () => {
    const x = new Float32Array(n * S * S);
    const source = new BatchSource(images, labels, S, S, n, x, {
      seed: 1,
      augment: true,
      augmentation: DEFAULT_AUGMENT,
      flip: false,
      preprocess: false,
    });
    source.shuffle();
    source.fill(0);
    // Identify each batch row by the label-coded picture it came from: the labels travel with the images.
    const sorted = Array.from(source.labels).sort();
    expect(sorted).toEqual(Array.from(labels).sort());
    expect(x).not.toEqual(images);
  });

  it('should prepare training images exactly as /predict prepares JSON pixels (preprocess(fromPixels))', () => {
    const x = new Float32Array(n * S * S);
    const source = new BatchSource(images, labels, S, S, n, x, {
      seed: 1,
      augment: false,
      augmentation: DEFAULT_AUGMENT,
      flip: false,
      preprocess: true,
    });
    source.fill(0); // no shuffle: the original order
    const prepared = prepareExamples({ count: n, images, labels });
    for (let i = 0; i < n; i++) {
      const served = preprocess(fromPixels(images.subarray(i * S * S, (i + 1) * S * S)));
      expect(x.subarray(i * S * S, (i + 1) * S * S)).toEqual(served);
      expect(prepared.images.subarray(i * S * S, (i + 1) * S * S)).toEqual(served);
    }
  });
});

describe('CORRUPTIONS', () => {
  it('should be seeded and keep pixels in range, each different from the clean digit', () => {
    const digit = scribbles(1, 4);
    for (const c of CORRUPTIONS) {
      const a = c.apply(digit, createRng(1));
      const b = c.apply(digit, createRng(1));
      expect(Array.from(a.data), c.name).toEqual(Array.from(b.data));
      const values = Array.from(a.data);
      expect(
        values.reduce((m, v) => Math.min(m, v), Infinity),
        c.name,
      ).toBeGreaterThanOrEqual(0);
      expect(
        values.reduce((m, v) => Math.max(m, v), -Infinity),
        c.name,
      ).toBeLessThanOrEqual(a.maxValue);
      if (a.width === S) expect(Array.from(a.data), c.name).not.toEqual(Array.from(digit));
    }
  });
});
