/**
 * @module
 * MNIST-style preprocessing of any image into the 28×28 input the network expects: grey levels, white ink on
 * black, the ink's bounding box fitted into 20×20 keeping the aspect ratio, centre of mass at the centre.
 * Pure (typed arrays and Math only); not PNG decoding (see `src/data/png.ts`).
 */

import { resample } from './resample.ts';

export { resample };

/** Side of the network's input image. */
export const SIDE = 28;
/** Side of the box the ink is scaled to fit, as in MNIST (20×20 inside 28×28). */
export const FIT = 20;
/** Ink fainter than this (0-1, after background removal) is treated as noise: it neither counts nor shows. */
export const INK_FLOOR = 0.1;
/** Below this much ink (in fully-inked pixels) the image is called empty rather than guessed at. */
export const MIN_INK = 1;

/** An image of any size: `channels` interleaved samples per pixel, each 0..`maxValue`. */
export interface RasterImage {
  width: number;
  height: number;
  /** 1 = grey, 2 = grey+alpha, 3 = RGB, 4 = RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** [height×width×channels] row-major samples. */
  data: ArrayLike<number>;
  /** The largest sample value: 255 for 8-bit, 65535 for 16-bit, 1 for floats in [0, 1]. */
  maxValue: number;
}

export type PreprocessErrorCode = 'EMPTY_IMAGE' | 'BAD_IMAGE';

/** A picture that cannot be turned into a digit: `EMPTY_IMAGE` (no ink; the API answers 422) or `BAD_IMAGE`. */
export class PreprocessError extends Error {
  constructor(
    readonly code: PreprocessErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PreprocessError';
  }
}

function checkImage(image: RasterImage): void {
  const { width, height, channels, data, maxValue } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new PreprocessError('BAD_IMAGE', `image size ${width}×${height} is not a positive integer size`);
  }
  if (![1, 2, 3, 4].includes(channels)) {
    throw new PreprocessError('BAD_IMAGE', `${channels} channels; expected 1-4`);
  }
  if (data.length !== width * height * channels) {
    throw new PreprocessError(
      'BAD_IMAGE',
      `${data.length} samples for a ${width}×${height} image with ${channels} channel(s) (expected ${width * height * channels})`,
    );
  }
  if (!(maxValue > 0) || !Number.isFinite(maxValue)) {
    throw new PreprocessError('BAD_IMAGE', `maxValue ${maxValue} is not a positive number`);
  }
}

/**
 * Luminance in [0, 1] of every pixel, [height×width]. Transparent pixels are composited over the colour
 * opposite to the visible content, so both black strokes and white strokes on a transparent canvas stay visible.
 */
export function toGray(image: RasterImage): Float32Array {
  checkImage(image);
  const { width, height, channels, data, maxValue } = image;
  const n = width * height;
  const lum = new Float32Array(n);
  if (channels === 1) {
    // Grey without alpha (the JSON API's pixels, most PNGs): the same values by a loop without the other cases.
    for (let i = 0; i < n; i++) lum[i] = Math.min(1, Math.max(0, (data[i] as number) / maxValue));
    return lum;
  }
  const hasAlpha = channels === 2 || channels === 4;
  const alpha = hasAlpha ? new Float32Array(n) : null;
  for (let i = 0; i < n; i++) {
    const p = i * channels;
    const v =
      channels >= 3 ? 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2] : (data[p] as number);
    lum[i] = Math.min(1, Math.max(0, v / maxValue));
    if (alpha) alpha[i] = Math.min(1, Math.max(0, data[p + channels - 1] / maxValue));
  }
  if (!alpha) return lum;
  let weight = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    weight += alpha[i];
    sum += alpha[i] * lum[i];
  }
  // Dark content (a black pen) goes over white paper, light content over black: the strokes keep their contrast.
  const background = weight > 0 && sum / weight < 0.5 ? 1 : 0;
  for (let i = 0; i < n; i++) lum[i] = alpha[i] * lum[i] + (1 - alpha[i]) * background;
  return lum;
}

/** The border pixels of an image (robust to strokes that touch the edge once sorted). */
function borderPixels(gray: Float32Array, width: number, height: number): Float32Array {
  const border = new Float32Array(height > 1 ? 2 * width + 2 * (height - 2) : width);
  let k = 0;
  for (let x = 0; x < width; x++) {
    border[k++] = gray[x];
    if (height > 1) border[k++] = gray[(height - 1) * width + x];
  }
  for (let y = 1; y < height - 1; y++) {
    border[k++] = gray[y * width];
    border[k++] = gray[y * width + width - 1];
  }
  return border;
}

/** Whether every border pixel equals the first one (as `borderPixels` lists them). */
function uniformBorder(gray: Float32Array, width: number, height: number): boolean {
  const first = gray[0];
  const last = (height - 1) * width;
  for (let x = 0; x < width; x++) if (gray[x] !== first || gray[last + x] !== first) return false;
  for (let y = 1; y < height - 1; y++) {
    if (gray[y * width] !== first || gray[y * width + width - 1] !== first) return false;
  }
  return true;
}

/**
 * The paper's level and how much it varies: the median of the border pixels and their 75th-percentile distance from
 * it; when that distance is large (ink on the frame: a digit cropped to its ink), at most the frame's `edgeNoise`.
 */
function borderStats(gray: Float32Array, width: number, height: number): { level: number; spread: number } {
  // A uniform border (an MNIST-style image's black margin, a clean scan's paper) needs no sorting: its median is
  // its value and the spread 0, as the sorts below would find. Checked in place, before any copy is made.
  if (uniformBorder(gray, width, height)) return { level: gray[0], spread: 0 };
  const border = borderPixels(gray, width, height);
  border.sort();
  const level = border[border.length >> 1];
  for (let i = 0; i < border.length; i++) border[i] = Math.abs(border[i] - level);
  border.sort();
  const spread = border[Math.floor(border.length * 0.75)];
  // A spread this large would floor out all but near-saturated ink: more likely ink on the frame than noise.
  return { level, spread: spread <= 0.25 ? spread : Math.min(spread, edgeNoise(gray, width, height)) };
}

/**
 * The paper's pixel-to-pixel variation along the frame: the 75th percentile of the differences between neighbours
 * on each edge, over √2 (for independent noise, what the distance from the level measures). A stroke that runs
 * into the frame adds a few large differences where it crosses, not a long run of them, so a digit cropped to its
 * ink (the border then partly ink) keeps the noise floor of its paper.
 */
function edgeNoise(gray: Float32Array, width: number, height: number): number {
  if (width < 2 || height < 2) return Infinity;
  const diffs = new Float32Array(2 * (width - 1) + 2 * (height - 1));
  let k = 0;
  const last = (height - 1) * width;
  for (let x = 0; x + 1 < width; x++) {
    diffs[k++] = Math.abs(gray[x + 1] - gray[x]);
    diffs[k++] = Math.abs(gray[last + x + 1] - gray[last + x]);
  }
  for (let y = 0; y + 1 < height; y++) {
    diffs[k++] = Math.abs(gray[(y + 1) * width] - gray[y * width]);
    diffs[k++] = Math.abs(gray[(y + 1) * width + width - 1] - gray[y * width + width - 1]);
  }
  diffs.sort();
  return diffs[Math.floor(diffs.length * 0.75)] / Math.SQRT2;
}

/**
 * Ink in [0, 1] per pixel, white-on-black: inverted when the paper (border) is light, the paper's level
 * subtracted and the rest stretched to [0, 1]. Noise is zeroed: ink below `INK_FLOOR` or below three times the paper's
 * own variation (a noisy scan), and isolated specks (an inked pixel none of whose 8 neighbours is inked).
 */
export function toInk(gray: Float32Array, width: number, height: number): Float32Array {
  let { level: paper, spread } = borderStats(gray, width, height);
  const invert = paper > 0.5;
  if (invert) paper = 1 - paper;
  const range = 1 - paper;
  const ink = new Float32Array(gray.length);
  if (range < 1e-6) return ink;
  const floor = Math.max(INK_FLOOR, (3 * spread) / range);
  if (!invert && paper === 0 && range === 1) {
    // Black paper (an MNIST-style image): v = (g − 0) / 1 is g itself.
    for (let i = 0; i < gray.length; i++) {
      const v = gray[i];
      ink[i] = v < floor ? 0 : Math.min(1, v);
    }
  } else if (invert) {
    for (let i = 0; i < gray.length; i++) {
      const v = (1 - gray[i] - paper) / range;
      ink[i] = v < floor ? 0 : Math.min(1, v);
    }
  } else {
    for (let i = 0; i < gray.length; i++) {
      const v = (gray[i] - paper) / range;
      ink[i] = v < floor ? 0 : Math.min(1, v);
    }
  }
  removeSpecks(ink, width, height);
  return ink;
}

/**
 * Scratch buffers, reused from call to call: a typed array of a few hundred elements costs ~1 µs to allocate in
 * V8, which made the allocations most of a 28×28 preparation's time. Everything here is synchronous and nothing
 * returned to a caller is a scratch buffer, so one set per isolate (per thread) is enough.
 */
let intScratch = new Int32Array(64);
let floatScratch = [new Float32Array(1024), new Float32Array(1024)];

/** An Int32Array of at least `n` elements, the first `n` zero. */
function scratchInts(n: number): Int32Array {
  if (intScratch.length < n) intScratch = new Int32Array(n);
  intScratch.fill(0, 0, n);
  return intScratch;
}

/** Float scratch `slot` (0 or 1) with at least `n` elements, the first `n` zero. */
function scratchFloats(slot: 0 | 1, n: number): Float32Array {
  if (floatScratch[slot].length < n) floatScratch[slot] = new Float32Array(n);
  const buffer = floatScratch[slot];
  buffer.fill(0, 0, n);
  return buffer;
}

/** Zeroes inked pixels none of whose 8 neighbours is inked, in place. */
function removeSpecks(ink: Float32Array, width: number, height: number): void {
  if (width <= 30) return removeSpecksNarrow(ink, width, height);
  const specks: number[] = [];
  for (let y = 0; y < height; y++) {
    const ya = y > 0 ? y - 1 : 0;
    const yb = y < height - 1 ? y + 1 : y;
    for (let x = 0; x < width; x++) {
      const at = y * width + x;
      if (ink[at] === 0) continue;
      const xa = x > 0 ? x - 1 : 0;
      const xb = x < width - 1 ? x + 1 : x;
      let inked = false;
      for (let yy = ya; yy <= yb && !inked; yy++) {
        for (let i = yy * width + xa, end = yy * width + xb; i <= end; i++) {
          if (i !== at && ink[i] !== 0) {
            inked = true;
            break;
          }
        }
      }
      if (!inked) specks.push(at);
    }
  }
  for (const i of specks) ink[i] = 0;
}

/**
 * `removeSpecks` for images at most 30 pixels wide (the JSON API's 28×28): each row's inked pixels as the bits
 * of one integer, so a pixel's 8 neighbours are two masks of the rows around it and one of its own row.
 */
function removeSpecksNarrow(ink: Float32Array, width: number, height: number): void {
  const rows = scratchInts(height + 2);
  for (let y = 0; y < height; y++) {
    let bits = 0;
    for (let x = 0; x < width; x++) if (ink[y * width + x] !== 0) bits |= 1 << x;
    rows[y + 1] = bits;
  }
  for (let y = 0; y < height; y++) {
    const own = rows[y + 1];
    if (own === 0) continue;
    const around = rows[y] | rows[y + 2];
    for (let x = 0; x < width; x++) {
      const bit = 1 << x;
      if ((own & bit) === 0) continue;
      const window = x === 0 ? 3 : 7 << (x - 1);
      if ((around & window) === 0 && (own & window & ~bit) === 0) ink[y * width + x] = 0;
    }
  }
}

/**
 * The MNIST pipeline: ink's bounding box scaled to fit 20×20 keeping its aspect ratio (anti-aliased), placed in
 * 28×28 with its centre of mass at the centre, brightest ink stretched to 1.
 * @returns [784] pixels in [0, 1], white ink on black.
 * @throws {PreprocessError} `EMPTY_IMAGE` when there is no ink (blank canvas), `BAD_IMAGE` on inconsistent sizes.
 */
export function preprocess(image: RasterImage, options: Preparation = {}): Float32Array {
  return preprocessInk(toInk(toGray(image), image.width, image.height), image.width, image.height, options);
}

/** Choices of the MNIST pipeline beyond its fixed steps; a model's metadata says which it was trained with. */
export interface Preparation {
  /**
   * Straighten the slant first (moment-based deskewing): each row of ink is shifted so that the ink's
   * second-order x-y moment becomes zero, as if the digit had been written upright. See `deskew`.
   */
  deskew?: boolean;
}

/** The longest side at which `deskew` works: a larger ink box is first averaged down to it (bounded cost). */
export const DESKEW_SIDE = 4 * FIT;
/** The largest slant `deskew` removes, in horizontal pixels per row (45°); a steeper one is removed up to it. */
export const MAX_SKEW = 1;

/**
 * The ink box [h×w] with its slant removed: with the ink's centre (cx, cy), variance of y and covariance of x and y,
 * the slant is a = cov/var (pixels of x per row), and row y is shifted by −a·(y − cy) (linear interpolation
 * between pixels), which makes the covariance zero. The result is cropped to its inked columns; a box with less
 * than a pixel of vertical spread (a dash) is returned as it is.
 */
export function deskew(box: Float32Array, w: number, h: number): { box: Float32Array; w: number; h: number } {
  let mass = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = y * w; x < w; x++, i++) {
      const v = box[i];
      mass += v;
      sx += x * v;
      sy += y * v;
    }
  }
  if (!(mass > 0)) return { box, w, h };
  const cx = sx / mass;
  const cy = sy / mass;
  let vyy = 0;
  let vxy = 0;
  for (let y = 0; y < h; y++) {
    const dy = y - cy;
    for (let x = 0, i = y * w; x < w; x++, i++) {
      const v = box[i];
      vyy += v * dy * dy;
      vxy += v * (x - cx) * dy;
    }
  }
  vyy /= mass;
  vxy /= mass;
  if (vyy < 1) return { box, w, h };
  const a = Math.max(-MAX_SKEW, Math.min(MAX_SKEW, vxy / vyy));
  // Row y's pixel x lands at x − a·(y − cy) − lowest; lowest is the smallest such shift, so nothing goes below 0.
  const lowest = Math.min(-a * (0 - cy), -a * (h - 1 - cy));
  const wide = w + Math.ceil(Math.abs(a) * (h - 1)) + 1;
  const out = scratchFloats(1, wide * h);
  let first = wide;
  let last = -1;
  for (let y = 0; y < h; y++) {
    const shift = -a * (y - cy) - lowest;
    const row = y * w;
    for (let xo = 0; xo < wide; xo++) {
      const xs = xo - shift;
      const x0 = Math.floor(xs);
      if (x0 < -1 || x0 >= w) continue;
      const f = xs - x0;
      const left = x0 >= 0 ? box[row + x0] : 0;
      const right = x0 + 1 < w ? box[row + x0 + 1] : 0;
      const v = left * (1 - f) + right * f;
      if (v === 0) continue;
      out[y * wide + xo] = v;
      if (xo < first) first = xo;
      if (xo > last) last = xo;
    }
  }
  if (last < first) return { box, w, h };
  const cw = last - first + 1;
  const cropped = new Float32Array(cw * h);
  for (let y = 0; y < h; y++) cropped.set(out.subarray(y * wide + first, y * wide + last + 1), y * cw);
  return { box: cropped, w: cw, h };
}

/**
 * `preprocess` from the image's ink map (`toInk(toGray(image), width, height)`), for callers that already made
 * it (the verdict's blank test reads the same map).
 * @throws {PreprocessError} `EMPTY_IMAGE` when there is no ink.
 */
export function preprocessInk(
  ink: Float32Array,
  width: number,
  height: number,
  options: Preparation = {},
): Float32Array {
  return fitInk(cropInk(ink, width, height), options);
}

/**
 * `preprocessInk` under both preparations, the ink cropped once: an upload is prepared before the model that
 * answers it is known, and that model's recipe picks one (`preparationOf`).
 * @throws {PreprocessError} `EMPTY_IMAGE` when there is no ink.
 */
export function preprocessInkBoth(
  ink: Float32Array,
  width: number,
  height: number,
): { plain: Float32Array; deskewed: Float32Array } {
  const box = cropInk(ink, width, height);
  return { plain: fitInk(box, {}), deskewed: fitInk(box, { deskew: true }) };
}

interface InkBox {
  box: Float32Array;
  w: number;
  h: number;
}

/** The ink's bounding box [h×w], copied out of the ink map. @throws {PreprocessError} `EMPTY_IMAGE`. */
function cropInk(ink: Float32Array, width: number, height: number): InkBox {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  let mass = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = ink[y * width + x];
      if (v === 0) continue;
      mass += v;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  // The same test as `hasInk`, on the same sum.
  if (x1 < 0 || mass < MIN_INK) {
    throw new PreprocessError('EMPTY_IMAGE', 'the image has no ink to read a digit from (empty canvas?)');
  }
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const box = new Float32Array(w * h);
  for (let y = 0, o = 0; y < h; y++) {
    for (let i = (y0 + y) * width + x0, end = i + w; i < end; i++) box[o++] = ink[i];
  }
  return { box, w, h };
}

/** The ink box (not changed) deskewed if asked, fitted into 20×20 and placed by its centre of mass in 28×28. */
function fitInk(ink: InkBox, options: Preparation): Float32Array {
  let { box, w: bw, h: bh } = ink;
  if (options.deskew) {
    const side = Math.max(bw, bh);
    if (side > DESKEW_SIDE) {
      const tw = Math.max(1, Math.round((bw * DESKEW_SIDE) / side));
      const th = Math.max(1, Math.round((bh * DESKEW_SIDE) / side));
      box = resample(box, bw, bh, tw, th);
      bw = tw;
      bh = th;
    }
    ({ box, w: bw, h: bh } = deskew(box, bw, bh));
  }
  const scale = FIT / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale));
  const th = Math.max(1, Math.round(bh * scale));
  const patch = resample(box, bw, bh, tw, th, scratchFloats(0, tw * th));

  let sum = 0;
  let cx = 0;
  let cy = 0;
  let peak = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = patch[y * tw + x];
      sum += v;
      cx += x * v;
      cy += y * v;
      if (v > peak) peak = v;
    }
  }
  // Integer shifts keep the anti-aliasing sharp (as MNIST did); clamping keeps all the ink inside the frame.
  const center = (SIDE - 1) / 2;
  const ox = Math.min(SIDE - tw, Math.max(0, Math.round(center - cx / sum)));
  const oy = Math.min(SIDE - th, Math.max(0, Math.round(center - cy / sum)));
  const out = new Float32Array(SIDE * SIDE);
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) out[(oy + y) * SIDE + ox + x] = patch[y * tw + x] / peak;
  }
  return out;
}

/** Whether an ink map (`toInk`) has enough ink for `preprocessInk` to read a digit from (else `EMPTY_IMAGE`). */
export function hasInk(ink: Float32Array): boolean {
  let mass = 0;
  for (let i = 0; i < ink.length; i++) if (ink[i] !== 0) mass += ink[i];
  return mass >= MIN_INK;
}

/**
 * The image as the network would see it without preprocessing: luminance scaled to 28×28 as is (no inversion,
 * no cropping, no centring). The baseline that `preprocess` is measured against.
 * @throws {PreprocessError} `BAD_IMAGE` on inconsistent sizes.
 */
export function resizeOnly(image: RasterImage): Float32Array {
  return resample(toGray(image), image.width, image.height, SIDE, SIDE);
}

/** A 28×28 grey image given as [784] values in [0, 1] (the JSON API's pixels) as a `RasterImage`. */
export function fromPixels(pixels: Float32Array | ArrayLike<number>): RasterImage {
  return { width: SIDE, height: SIDE, channels: 1, data: pixels, maxValue: 1 };
}
