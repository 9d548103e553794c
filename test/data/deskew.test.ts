import { describe, expect, it } from 'vitest';
import { deskew, DESKEW_SIDE, MAX_SKEW, preprocess, type RasterImage } from '../../src/data/preprocess.ts';

/** A grey 0-255 image with ink where `paint` says so. */
function grey(width: number, height: number, paint: (x: number, y: number) => boolean): RasterImage {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data[y * width + x] = paint(x, y) ? 255 : 0;
  return { width, height, channels: 1, data, maxValue: 255 };
}

/** A bar `thick` pixels wide leaning by `slant` pixels of x per row (x grows as y grows for slant > 0). */
const leaningBar =
  (slant: number, thick: number, x0: number, y0: number, rows: number) => (x: number, y: number) =>
    y >= y0 && y < y0 + rows && x >= x0 + slant * (y - y0) && x < x0 + slant * (y - y0) + thick;

/** Slant (cov(x, y) / var(y)), width of the inked columns and ink mass of an image [h×w]. */
function moments(img: Float32Array, w: number, h: number) {
  let m = 0;
  let sx = 0;
  let sy = 0;
  let first = w;
  let last = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = img[y * w + x];
      if (v === 0) continue;
      m += v;
      sx += x * v;
      sy += y * v;
      first = Math.min(first, x);
      last = Math.max(last, x);
    }
  const cx = sx / m;
  const cy = sy / m;
  let vyy = 0;
  let vxy = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = img[y * w + x];
      vyy += v * (y - cy) ** 2;
      vxy += v * (x - cx) * (y - cy);
    }
  return { slant: vxy / vyy, width: last - first + 1, mass: m };
}

function box(image: RasterImage): Float32Array {
  return Float32Array.from(image.data as Uint8Array, (v) => v / 255);
}

describe('deskew', () => {
  for (const slant of [0.5, -0.5, 0.25]) {
    it(`should stand a bar leaning by ${slant} px per row upright`, () => {
      const rows = 40;
      const w = 4 + Math.ceil(Math.abs(slant) * rows);
      const image = grey(w, rows, leaningBar(slant, 4, slant < 0 ? w - 4 : 0, 0, rows));
      const before = moments(box(image), w, rows);
      expect(Math.abs(before.slant - slant)).toBeLessThan(0.02);
      const out = deskew(box(image), w, rows);
      const after = moments(out.box, out.w, out.h);
      expect(Math.abs(after.slant)).toBeLessThan(0.01);
      // Upright, the bar is about as wide as its stroke (interpolation adds at most a column).
      expect(out.w).toBeLessThanOrEqual(6);
      expect(out.h).toBe(rows);
      // Shifting rows moves ink, it does not make or lose any.
      expect(after.mass).toBeCloseTo(before.mass, 3);
    });
  }

  it('should leave an upright stroke as it is', () => {
    const image = grey(6, 30, (x) => x >= 1 && x < 5);
    const out = deskew(box(image), 6, 30);
    expect(out.w).toBe(4);
    expect(Array.from(out.box).every((v) => v === 1)).toBe(true);
  });

  it('should return a dash (under a pixel of vertical spread) unchanged', () => {
    const image = grey(20, 1, () => true);
    const input = box(image);
    const out = deskew(input, 20, 1);
    expect(out.box).toBe(input);
  });

  it(`should remove at most ${MAX_SKEW} px per row from a steeper slant`, () => {
    const rows = 30;
    const image = grey(4 + 2 * rows, rows, leaningBar(2, 4, 0, 0, rows));
    const out = deskew(box(image), 4 + 2 * rows, rows);
    const after = moments(out.box, out.w, out.h);
    expect(after.slant).toBeCloseTo(2 - MAX_SKEW, 1);
  });
});

describe('preprocess with deskew', () => {
  it('should give an upright 28×28 digit with its ink in the frame', () => {
    const image = grey(60, 80, leaningBar(0.4, 8, 5, 5, 70));
    const plain = preprocess(image);
    const straight = preprocess(image, { deskew: true });
    expect(Math.abs(moments(plain, 28, 28).slant)).toBeGreaterThan(0.3);
    expect(Math.abs(moments(straight, 28, 28).slant)).toBeLessThan(0.05);
    expect(moments(straight, 28, 28).width).toBeLessThan(moments(plain, 28, 28).width);
    expect(Math.max(...straight)).toBe(1);
  });

  it('should read a digit drawn large as drawn small (a large box is averaged down first)', () => {
    const large = grey(1200, 1600, leaningBar(0.3, 120, 50, 50, 1400));
    const small = grey(120, 160, leaningBar(0.3, 12, 5, 5, 140));
    expect(1400).toBeGreaterThan(4 * DESKEW_SIDE);
    const a = moments(preprocess(large, { deskew: true }), 28, 28);
    const b = moments(preprocess(small, { deskew: true }), 28, 28);
    // The same upright bar (their centres may round to neighbouring pixels).
    expect(Math.abs(a.slant)).toBeLessThan(0.05);
    expect(Math.abs(b.slant)).toBeLessThan(0.05);
    expect(a.width).toBe(b.width);
    expect(Math.abs(a.mass - b.mass) / b.mass).toBeLessThan(0.05);
  });

  it('should not change preprocessing without the option', () => {
    const image = grey(40, 40, leaningBar(0.5, 5, 2, 4, 30));
    expect(preprocess(image, {})).toEqual(preprocess(image));
    expect(preprocess(image, { deskew: false })).toEqual(preprocess(image));
  });
});
