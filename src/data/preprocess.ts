/**
 * @module
 * MNIST-style preprocessing of any image into the 28×28 input the network expects: grey levels, white ink on
 * black, the ink's bounding box fitted into 20×20 keeping the aspect ratio, centre of mass at the centre.
 * Pure (typed arrays and Math only); not PNG decoding (see `src/data/png.ts`).
 */

import { INK_FLOOR, inkExtent, toInk, toInkInto, type InkExtent } from './ink-map.ts';
import { resample } from './resample.ts';

export { INK_FLOOR, inkExtent, resample, toInk, toInkInto, type InkExtent };

/** Side of the network's input image. */
export const SIDE = 28;
/** Side of the box the ink is scaled to fit, as in MNIST (20×20 inside 28×28). */
export const FIT = 20;
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

/**
 * Scratch buffers, reused from call to call: a typed array of a few hundred elements costs ~1-2 µs to allocate in
 * V8, which made the allocations most of a 28×28 preparation's time. Everything here is synchronous and nothing
 * returned to a caller is a scratch buffer, so one set per isolate (per thread) is enough. Slots: 0 the fitted
 * patch, 1 the deskewed rows before their crop, 2 the ink box, 3 the deskewed box.
 */
const floatScratch = [
  new Float32Array(1024),
  new Float32Array(1024),
  new Float32Array(1024),
  new Float32Array(1024),
];

/** Float scratch `slot` with at least `n` elements, the first `n` zero unless `zeroed` is false. */
function scratchFloats(slot: 0 | 1 | 2 | 3, n: number, zeroed = true): Float32Array {
  if (floatScratch[slot].length < n) floatScratch[slot] = new Float32Array(n);
  const buffer = floatScratch[slot];
  if (zeroed) buffer.fill(0, 0, n);
  return buffer;
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
export function deskew(box: Float32Array, w: number, h: number): InkBox {
  return deskewInto(box, w, h, (n) => new Float32Array(n));
}

/** `deskew`, its cropped result in `cropped(n)`'s array (the preparation's scratch, or a new one). */
function deskewInto(box: Float32Array, w: number, h: number, cropped: (n: number) => Float32Array): InkBox {
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
    // Only xo in [shift − 1, shift + w) can land on the row (x0 in [−1, w)); the loop starts and ends a little
    // outside that and keeps the test, so every xo that wrote before writes the same, in the same order.
    const start = Math.max(0, Math.floor(shift) - 1);
    const end = Math.min(wide, Math.ceil(shift) + w + 1);
    for (let xo = start, o = y * wide + start; xo < end; xo++, o++) {
      const xs = xo - shift;
      const x0 = Math.floor(xs);
      if (x0 < -1 || x0 >= w) continue;
      const f = xs - x0;
      const left = x0 >= 0 ? box[row + x0] : 0;
      const right = x0 + 1 < w ? box[row + x0 + 1] : 0;
      const v = left * (1 - f) + right * f;
      if (v === 0) continue;
      out[o] = v;
      if (xo < first) first = xo;
      if (xo > last) last = xo;
    }
  }
  if (last < first) return { box, w, h };
  const cw = last - first + 1;
  const result = cropped(cw * h);
  for (let y = 0, o = 0; y < h; y++) {
    for (let i = y * wide + first, end = i + cw; i < end; i++) result[o++] = out[i];
  }
  return { box: result, w: cw, h };
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
  const out = new Float32Array(SIDE * SIDE);
  return preprocessInkInto(ink, width, height, inkExtent(ink, width, height), options, out);
}

/**
 * `preprocessInk` with the ink's extent already known (`toInkInto` found it while making the map), its [784]
 * pixels written into `out` (all of them).
 * @throws {PreprocessError} `EMPTY_IMAGE` when there is no ink.
 */
export function preprocessInkInto(
  ink: Float32Array,
  width: number,
  height: number,
  extent: InkExtent,
  options: Preparation,
  out: Float32Array,
): Float32Array {
  return fitInk(cropInk(ink, width, extent), options, out);
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
  const box = cropInk(ink, width, inkExtent(ink, width, height));
  return {
    plain: fitInk(box, {}, new Float32Array(SIDE * SIDE)),
    deskewed: fitInk(box, { deskew: true }, new Float32Array(SIDE * SIDE)),
  };
}

interface InkBox {
  box: Float32Array;
  w: number;
  h: number;
}

/** Boxes up to this many pixels (64×64) are cut into scratch; a larger picture's box gets its own array. */
const SCRATCH_BOX = 4096;

/**
 * The ink's bounding box [h×w] (`extent`'s), copied out of the ink map: into scratch when small, so the box lives
 * until the next preparation. @throws {PreprocessError} `EMPTY_IMAGE`.
 */
function cropInk(ink: Float32Array, width: number, extent: InkExtent): InkBox {
  const { x0, y0, x1, y1, mass } = extent;
  // The same test as `hasInk`, on the same sum.
  if (x1 < 0 || mass < MIN_INK) {
    throw new PreprocessError('EMPTY_IMAGE', 'the image has no ink to read a digit from (empty canvas?)');
  }
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const box = w * h <= SCRATCH_BOX ? scratchFloats(2, w * h, false) : new Float32Array(w * h);
  for (let y = 0, o = 0; y < h; y++) {
    for (let i = (y0 + y) * width + x0, end = i + w; i < end; i++) box[o++] = ink[i];
  }
  return { box, w, h };
}

/** The deskewed box's buffer: scratch slot 3 (deskewing works at most `DESKEW_SIDE` on a side, so it stays small). */
const deskewScratch = (n: number) => scratchFloats(3, n, false);

/**
 * The ink box (not changed) deskewed if asked, fitted into 20×20 and placed by its centre of mass in 28×28,
 * written into `out` [784] (every element).
 */
function fitInk(ink: InkBox, options: Preparation, out: Float32Array): Float32Array {
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
    ({ box, w: bw, h: bh } = deskewInto(box, bw, bh, deskewScratch));
  }
  const scale = FIT / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale));
  const th = Math.max(1, Math.round(bh * scale));
  // Every one of the patch's tw·th values is written by `resample`.
  const patch = resample(box, bw, bh, tw, th, scratchFloats(0, tw * th, false));

  let sum = 0;
  let cx = 0;
  let cy = 0;
  let peak = 0;
  for (let y = 0, i = 0; y < th; y++) {
    for (let x = 0; x < tw; x++, i++) {
      const v = patch[i];
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
  out.fill(0, 0, SIDE * SIDE);
  for (let y = 0, i = 0; y < th; y++) {
    for (let x = 0, o = (oy + y) * SIDE + ox; x < tw; x++, i++, o++) out[o] = patch[i] / peak;
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
