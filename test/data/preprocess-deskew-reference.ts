/**
 * @module
 * The preparation from an ink map with its deskewing as it was at the start of session 10 (`src/data/preprocess.ts`
 * at 5b5f077: `preprocessInk`, `cropInk`, `fitInk`, `deskew` and the scratch buffers, copied verbatim apart from
 * these lines and the `resample` import): the reference the faster code must equal bit for bit
 * (`preprocess-deskew-equal.test.ts`). Its `resample` is the older reference's, itself checked equal to ours.
 */
import {
  DESKEW_SIDE,
  FIT,
  MAX_SKEW,
  MIN_INK,
  PreprocessError,
  SIDE,
  type Preparation,
} from '../../src/data/preprocess.ts';
import { resample as plainResample } from './preprocess-reference.ts';

/** The older reference's `resample` with the destination argument today's code passes (same numbers). */
function resample(
  src: Float32Array,
  sw: number,
  sh: number,
  tw: number,
  th: number,
  dst?: Float32Array,
): Float32Array {
  const out = plainResample(src, sw, sh, tw, th);
  if (!dst) return out;
  dst.set(out);
  return dst;
}

let floatScratch = [new Float32Array(1024), new Float32Array(1024)];

/** Float scratch `slot` (0 or 1) with at least `n` elements, the first `n` zero. */
function scratchFloats(slot: 0 | 1, n: number): Float32Array {
  if (floatScratch[slot].length < n) floatScratch[slot] = new Float32Array(n);
  const buffer = floatScratch[slot];
  buffer.fill(0, 0, n);
  return buffer;
}

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

/** `preprocessInk` as it was. @throws {PreprocessError} `EMPTY_IMAGE` when there is no ink. */
export function preprocessInk(
  ink: Float32Array,
  width: number,
  height: number,
  options: Preparation = {},
): Float32Array {
  return fitInk(cropInk(ink, width, height), options);
}

interface InkBox {
  box: Float32Array;
  w: number;
  h: number;
}

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

/** `inkStatsOf` of `src/data/verdict.ts` as it was (the blank test's mass and extent). */
export function inkStatsOf(
  ink: Float32Array,
  width: number,
  height: number,
): { mass: number; extent: number } {
  let mass = 0;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
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
  const extent = x1 < 0 ? 0 : Math.max(x1 - x0 + 1, y1 - y0 + 1) / Math.max(width, height);
  return { mass: mass / (width * height), extent };
}
