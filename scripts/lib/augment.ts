/**
 * @module
 * Training-time augmentation: random changes to a 28×28 training image that cover how real digits differ from
 * MNIST's (Simard et al., 2003, and the ways canvases, phones and scanners differ): one affine warp (rotation,
 * scale, aspect, shear, translation) combined with an elastic distortion in a single bilinear resampling,
 * then thicker or thinner strokes, blur and low resolution, each with its own probability. Every draw comes from
 * one seeded generator, so a run is reproducible. Elastic fields come from a bank smoothed once at start-up (the
 * Gaussian smoothing is the expensive part), scaled and signed at random per image.
 * Pure (typed arrays and Math); the corruptions of `npm run eval-robustness` are separate code (`corruptions.ts`).
 */

import { resample } from '../../src/data/preprocess.ts';
import { createRng } from '../../src/nn/index.ts';

/** What to vary, and how much. A probability of 0 turns a transform off. */
export interface AugmentConfig {
  /** Largest rotation, degrees either way. */
  rotate: number;
  /** Largest relative change of size (0.15: 85%-115%), drawn per axis around a common factor. */
  scale: number;
  /** Largest horizontal shear (x += shear·y). */
  shear: number;
  /** Largest translation in pixels, each direction. */
  shift: number;
  /** Probability of an elastic distortion. */
  elastic: number;
  /** Largest elastic displacement scale α (Simard's α on a field smoothed with σ = `ELASTIC_SIGMA`). */
  elasticAlpha: number;
  /** Probability of a change of stroke width (half thicker, half thinner). */
  thickness: number;
  /** Probability of a Gaussian blur (σ 0.5-1.1 px). */
  blur: number;
  /** Probability of a low-resolution copy (down to 12-20 px a side, back up to 28). */
  lowres: number;
  /** Probability that an image is left as it is (none of the above), so the clean digits are seen too. */
  clean: number;
}

export const DEFAULT_AUGMENT: AugmentConfig = {
  rotate: 12,
  scale: 0.12,
  shear: 0.2,
  shift: 2,
  elastic: 0.3,
  elasticAlpha: 34,
  thickness: 0.3,
  blur: 0.1,
  lowres: 0.1,
  clean: 0.35,
};

/** Smoothing of the elastic fields, pixels (Simard's σ = 4 for 28×28 digits). */
export const ELASTIC_SIGMA = 4;
/** Elastic fields kept in the bank. */
const BANK = 64;

/** Mirrors image `img` [rows×cols] left-right in place. */
export function flipImage(img: Float32Array, rows: number, cols: number): void {
  for (let y = 0; y < rows; y++) img.subarray(y * cols, (y + 1) * cols).reverse();
}

/**
 * Copies image `src` [rows×cols] into `dst` moved by (dx, dy) pixels (right and down when positive);
 * pixels moved in from outside are 0.
 */
export function shiftImage(
  src: Float32Array,
  dst: Float32Array,
  rows: number,
  cols: number,
  dx: number,
  dy: number,
): void {
  dst.fill(0, 0, rows * cols);
  const x0 = Math.max(0, dx);
  const x1 = Math.min(cols, cols + dx);
  for (let y = Math.max(0, dy); y < Math.min(rows, rows + dy); y++) {
    const from = (y - dy) * cols - dx;
    dst.set(src.subarray(from + x0, from + x1), y * cols + x0);
  }
}

/** A 2×2 linear map [a b; c d] applied about the image centre, then a translation (tx, ty). */
export interface Affine {
  a: number;
  b: number;
  c: number;
  d: number;
  tx: number;
  ty: number;
}

/** The affine map for rotation `degrees` (counter-clockwise on screen), scales, shear x += shear·y, shift. */
export function affineOf(
  degrees: number,
  scaleX: number,
  scaleY: number,
  shear: number,
  tx = 0,
  ty = 0,
): Affine {
  // Screen y points down, so a counter-clockwise turn on screen is a clockwise one in (x, y).
  const t = (-degrees * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  // M = R · Sh · S, with Sh = [1 shear; 0 1] and S = diag(scaleX, scaleY).
  return {
    a: cos * scaleX,
    b: (cos * shear - sin) * scaleY,
    c: sin * scaleX,
    d: (sin * shear + cos) * scaleY,
    tx,
    ty,
  };
}

/**
 * `dst` = `src` warped by the affine map `m` about the centre plus an optional displacement field `(fx, fy)`
 * scaled by `alpha` (where output pixel p reads the source at M⁻¹(p − c − t) + c + α·f(p)); bilinear, 0 outside.
 */
export function warp(
  src: Float32Array,
  dst: Float32Array,
  side: number,
  m: Affine,
  field: { fx: Float32Array; fy: Float32Array; alpha: number } | null = null,
): void {
  const det = m.a * m.d - m.b * m.c;
  const ia = m.d / det;
  const ib = -m.b / det;
  const ic = -m.c / det;
  const id = m.a / det;
  const centre = (side - 1) / 2;
  const max = side - 1;
  const fx = field?.fx;
  const fy = field?.fy;
  const alpha = field?.alpha ?? 0;
  for (let y = 0; y < side; y++) {
    const py = y - centre - m.ty;
    // Source coordinates of pixel (0, y), then one step of (ia, ic) per pixel to the right.
    let bx = ia * (-centre - m.tx) + ib * py + centre;
    let by = ic * (-centre - m.tx) + id * py + centre;
    for (let x = 0; x < side; x++, bx += ia, by += ic) {
      const o = y * side + x;
      const sx = fx ? bx + alpha * fx[o] : bx;
      const sy = fy ? by + alpha * fy![o] : by;
      if (!(sx > -1 && sy > -1 && sx < side && sy < side)) {
        dst[o] = 0;
        continue;
      }
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const ax = sx - x0;
      const ay = sy - y0;
      const i = y0 * side + x0;
      let v00 = 0;
      let v01 = 0;
      let v10 = 0;
      let v11 = 0;
      if (x0 >= 0 && y0 >= 0 && x0 < max && y0 < max) {
        v00 = src[i];
        v01 = src[i + 1];
        v10 = src[i + side];
        v11 = src[i + side + 1];
      } else {
        if (x0 >= 0 && y0 >= 0) v00 = src[i];
        if (x0 < max && y0 >= 0) v01 = src[i + 1];
        if (x0 >= 0 && y0 < max) v10 = src[i + side];
        if (x0 < max && y0 < max) v11 = src[i + side + 1];
      }
      dst[o] = (v00 + (v01 - v00) * ax) * (1 - ay) + (v10 + (v11 - v10) * ax) * ay;
    }
  }
}

/**
 * Grey-level dilation (3×3 square max, done as a row pass then a column pass) when `thicker`, else erosion
 * (4-neighbour cross min), into `dst`; `tmp` is scratch of the same size.
 */
export function morph(
  src: Float32Array,
  dst: Float32Array,
  side: number,
  thicker: boolean,
  tmp: Float32Array = new Float32Array(side * side),
): void {
  if (thicker) {
    for (let y = 0; y < side; y++) {
      const r = y * side;
      for (let x = 0; x < side; x++) {
        let v = src[r + x];
        if (x > 0 && src[r + x - 1] > v) v = src[r + x - 1];
        if (x < side - 1 && src[r + x + 1] > v) v = src[r + x + 1];
        tmp[r + x] = v;
      }
    }
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const o = y * side + x;
        let v = tmp[o];
        if (y > 0 && tmp[o - side] > v) v = tmp[o - side];
        if (y < side - 1 && tmp[o + side] > v) v = tmp[o + side];
        dst[o] = v;
      }
    }
    return;
  }
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const o = y * side + x;
      let v = src[o];
      if (x > 0 && src[o - 1] < v) v = src[o - 1];
      if (x < side - 1 && src[o + 1] < v) v = src[o + 1];
      if (y > 0 && src[o - side] < v) v = src[o - side];
      if (y < side - 1 && src[o + side] < v) v = src[o + side];
      dst[o] = v;
    }
  }
}

/** The normalised Gaussian kernel of standard deviation `sigma`, radius ⌈3σ⌉ (at least 1). */
export function gaussianKernel(sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/** Separable convolution of `img` [side×side] with `kernel` in place, zero padding; `tmp` is scratch. */
export function convolve(img: Float32Array, side: number, kernel: Float32Array, tmp: Float32Array): void {
  const r = kernel.length >> 1;
  tmp.fill(0, 0, side * side);
  // Scatter form: each tap adds a shifted, weighted copy of the image, so the inner loops carry no bounds tests.
  for (let i = -r; i <= r; i++) {
    const w = kernel[i + r];
    const x0 = Math.max(0, -i);
    const x1 = Math.min(side, side - i);
    for (let y = 0; y < side; y++) {
      const row = y * side;
      for (let x = x0; x < x1; x++) tmp[row + x] += w * img[row + x + i];
    }
  }
  img.fill(0, 0, side * side);
  for (let i = -r; i <= r; i++) {
    const w = kernel[i + r];
    const y0 = Math.max(0, -i);
    const y1 = Math.min(side, side - i);
    for (let y = y0; y < y1; y++) {
      const row = y * side;
      const from = (y + i) * side;
      for (let x = 0; x < side; x++) img[row + x] += w * tmp[from + x];
    }
  }
}

/**
 * Draws random changes from one seeded generator and applies them to 28×28 (or any square) images in [0, 1],
 * white ink on black. The output stays in [0, 1]; the label is the caller's and never changes.
 */
export class Augmenter {
  private readonly rng: () => number;
  private readonly fields: { fx: Float32Array; fy: Float32Array }[] = [];
  private readonly a: Float32Array<ArrayBufferLike>;
  private readonly b: Float32Array<ArrayBufferLike>;

  constructor(
    readonly config: AugmentConfig,
    seed: number,
    readonly side = 28,
  ) {
    this.rng = createRng(seed);
    this.a = new Float32Array(side * side);
    this.b = new Float32Array(side * side);
    if (config.elastic > 0 && config.elasticAlpha > 0) {
      // The bank has its own stream, so turning elastic distortion on or off leaves the other draws unchanged.
      const fieldRng = createRng(seed ^ 0xe1a5);
      const kernel = gaussianKernel(ELASTIC_SIGMA);
      const tmp = new Float32Array(side * side);
      for (let i = 0; i < BANK; i++) {
        const fx = Float32Array.from({ length: side * side }, () => fieldRng() * 2 - 1);
        const fy = Float32Array.from({ length: side * side }, () => fieldRng() * 2 - 1);
        convolve(fx, side, kernel, tmp);
        convolve(fy, side, kernel, tmp);
        this.fields.push({ fx, fy });
      }
    }
  }

  private uniform(lo: number, hi: number): number {
    return lo + this.rng() * (hi - lo);
  }

  /** Writes a randomly changed copy of `src` into `dst` (both [side×side]; they may not alias). */
  apply(src: Float32Array, dst: Float32Array): void {
    const { config: c, side } = this;
    if (c.clean > 0 && this.rng() < c.clean) {
      if (src !== dst) dst.set(src);
      return;
    }
    const s = 1 + this.uniform(-c.scale, c.scale);
    const aspect = 1 + this.uniform(-c.scale, c.scale) / 2;
    const m = affineOf(
      this.uniform(-c.rotate, c.rotate),
      s * aspect,
      s / aspect,
      this.uniform(-c.shear, c.shear),
      this.uniform(-c.shift, c.shift),
      this.uniform(-c.shift, c.shift),
    );
    let field = null;
    if (this.fields.length > 0 && this.rng() < c.elastic) {
      const f = this.fields[Math.floor(this.rng() * this.fields.length)];
      field = { ...f, alpha: this.uniform(-c.elasticAlpha, c.elasticAlpha) };
    }
    let cur = dst;
    warp(src, cur, side, m, field);
    let spare = this.a;
    if (this.rng() < c.thickness) {
      const thicker = this.rng() < 0.5;
      const t = thicker ? this.uniform(0.4, 1) : this.uniform(0.3, 0.8);
      morph(cur, spare, side, thicker, this.b);
      for (let i = 0; i < cur.length; i++) spare[i] = cur[i] + t * (spare[i] - cur[i]);
      [cur, spare] = [spare, cur];
    }
    if (this.rng() < c.blur) convolve(cur, side, gaussianKernel(this.uniform(0.5, 1.1)), this.b);
    if (this.rng() < c.lowres) {
      const small = 12 + Math.floor(this.rng() * 9);
      const up = resample(resample(cur, side, side, small, small), small, small, side, side);
      cur.set(up);
    }
    if (cur !== dst) dst.set(cur);
    for (let i = 0; i < dst.length; i++) dst[i] = dst[i] < 0 ? 0 : dst[i] > 1 ? 1 : dst[i];
  }
}

/** Writes the network's input for one source image into `dst` (both [rows·cols]). */
export type ImageTransform = (src: Float32Array, dst: Float32Array) => void;

/**
 * Fills `x` [n×rows·cols] and `labels` [n] with examples `order[start..start+n)` of `images`/`sourceLabels`, each
 * through `transform` (copied as it is when null).
 */
export function gatherBatch(
  images: Float32Array,
  sourceLabels: Uint8Array,
  order: Uint32Array,
  start: number,
  n: number,
  rows: number,
  cols: number,
  x: Float32Array,
  labels: Uint8Array,
  transform: ImageTransform | null,
): void {
  const size = rows * cols;
  for (let i = 0; i < n; i++) {
    const e = order[start + i];
    const src = images.subarray(e * size, (e + 1) * size);
    const dst = x.subarray(i * size, (i + 1) * size);
    if (transform) transform(src, dst);
    else dst.set(src);
    labels[i] = sourceLabels[e];
  }
}
