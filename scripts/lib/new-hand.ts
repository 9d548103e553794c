/**
 * @module
 * A "new hand" for the adaptation benchmark: MNIST digits redrawn as one consistent, unfamiliar writer would draw
 * them — strokes thickened, the whole digit slanted by a fixed rotation, and bent by a smooth elastic field of
 * its own seed per image. None of it is in training (`scripts/train.ts` only shifts by whole pixels), and the
 * seeds here are drawn from their own stream. Pure: pixels in [0,1] in, pixels in [0,1] out.
 */
import { createRng } from '../../src/nn/index.ts';

const SIDE = 28;
const PIXELS = SIDE * SIDE;

export interface HandStyle {
  /** Rotation of every digit, degrees (counter-clockwise), plus a uniform jitter of ± `rotationJitter`. */
  rotation: number;
  rotationJitter: number;
  /** Dilation radius in pixels (a max filter of (2r+1)²); 0 = strokes as they are. */
  thicken: number;
  /** Elastic distortion: displacement `alpha` pixels of a field smoothed by a Gaussian of `sigma` pixels. */
  elasticAlpha: number;
  elasticSigma: number;
}

/**
 * The benchmark's hand: thick, slanted far back, wobbly. The slant is outside what training's augmentation draws
 * (rotations up to ±15°, `scripts/lib/augment.ts`), so the model has room to learn it: at −15° the augmented
 * default model already reads this hand at ~90%, which leaves a fine-tune nothing consistent to learn.
 */
export const BENCH_HAND: HandStyle = {
  rotation: -40,
  rotationJitter: 6,
  thicken: 1,
  elasticAlpha: 20,
  elasticSigma: 4,
};

/** Seeds of the hand's stream: unlike any seed `npm run train` uses (small integers). */
export const NEW_HAND_SEED = 0x4e3a11d;

/**
 * Redraws `count` images of `images` [count×784] in `style`; image i uses its own seeded stream (seed, i), so a
 * subset redraws the same way whatever else is drawn.
 */
export function drawInHand(
  images: Float32Array,
  count: number,
  style: HandStyle,
  seed: number,
): Float32Array {
  const out = new Float32Array(count * PIXELS);
  const a = new Float32Array(PIXELS);
  const b = new Float32Array(PIXELS);
  for (let i = 0; i < count; i++) {
    const rng = createRng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
    a.set(images.subarray(i * PIXELS, (i + 1) * PIXELS));
    if (style.thicken > 0) dilate(a, b, style.thicken);
    else b.set(a);
    const angle = style.rotation + (2 * rng() - 1) * style.rotationJitter;
    warp(b, out.subarray(i * PIXELS, (i + 1) * PIXELS), angle, style, rng);
  }
  return out;
}

/** Max filter of radius r: dst = the brightest pixel of each (2r+1)² square of src. */
function dilate(src: Float32Array, dst: Float32Array, r: number): void {
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let m = 0;
      for (let dy = -r; dy <= r; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= SIDE) continue;
        for (let dx = -r; dx <= r; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < SIDE && src[yy * SIDE + xx] > m) m = src[yy * SIDE + xx];
        }
      }
      dst[y * SIDE + x] = m;
    }
  }
}

/** A random displacement field smoothed by a separable Gaussian, scaled to `alpha`. */
function elasticField(style: HandStyle, rng: () => number): [Float32Array, Float32Array] {
  const sigma = style.elasticSigma;
  const radius = Math.ceil(3 * sigma);
  const kernel = Float32Array.from({ length: 2 * radius + 1 }, (_, k) =>
    Math.exp(-((k - radius) ** 2) / (2 * sigma * sigma)),
  );
  const field = (): Float32Array => {
    const raw = Float32Array.from({ length: PIXELS }, () => 2 * rng() - 1);
    const tmp = new Float32Array(PIXELS);
    const smooth = new Float32Array(PIXELS);
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) {
          const xx = Math.min(SIDE - 1, Math.max(0, x + k));
          s += kernel[k + radius] * raw[y * SIDE + xx];
        }
        tmp[y * SIDE + x] = s;
      }
    }
    let norm = 0;
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) {
          const yy = Math.min(SIDE - 1, Math.max(0, y + k));
          s += kernel[k + radius] * tmp[yy * SIDE + x];
        }
        smooth[y * SIDE + x] = s;
        norm = Math.max(norm, Math.abs(s));
      }
    }
    // Scale so the strongest displacement is alpha/sigma pixels (independent of the kernel's mass).
    const scale = norm > 0 ? style.elasticAlpha / sigma / norm : 0;
    for (let i = 0; i < PIXELS; i++) smooth[i] *= scale;
    return smooth;
  };
  return [field(), field()];
}

/** dst(p) = src(R⁻¹(p − c) + c + elastic(p)), bilinear, about the image centre. */
function warp(
  src: Float32Array,
  dst: Float32Array,
  degrees: number,
  style: HandStyle,
  rng: () => number,
): void {
  const [fx, fy] = style.elasticAlpha > 0 ? elasticField(style, rng) : [null, null];
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const c = (SIDE - 1) / 2;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const p = y * SIDE + x;
      const u = x - c;
      const v = y - c;
      let sx = cos * u + sin * v + c;
      let sy = -sin * u + cos * v + c;
      if (fx && fy) {
        sx += fx[p];
        sy += fy[p];
      }
      dst[p] = Math.min(1, bilinear(src, sx, sy));
    }
  }
}

function bilinear(src: Float32Array, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const ax = x - x0;
  const ay = y - y0;
  const at = (xx: number, yy: number) =>
    xx < 0 || yy < 0 || xx >= SIDE || yy >= SIDE ? 0 : src[yy * SIDE + xx];
  return (
    (1 - ay) * ((1 - ax) * at(x0, y0) + ax * at(x0 + 1, y0)) +
    ay * ((1 - ax) * at(x0, y0 + 1) + ax * at(x0 + 1, y0 + 1))
  );
}

/** Labelled images [count×784] in [0,1]. */
export interface LabelledImages {
  count: number;
  images: Float32Array;
  labels: Uint8Array;
}

export interface AdaptationSplit {
  /** The new hand's examples a fine-tune is given. */
  adapt: LabelledImages;
  /** The new hand's held-out digits (other source images than `adapt`): did the fine-tune generalise? */
  heldOut: LabelledImages;
  /** Plain MNIST test digits used for neither: did the fine-tune forget? */
  mnist: LabelledImages;
}

function slice(source: LabelledImages, from: number, to: number): LabelledImages {
  return {
    count: to - from,
    images: source.images.slice(from * PIXELS, to * PIXELS),
    labels: source.labels.slice(from, to),
  };
}

/**
 * Splits the MNIST test set into disjoint ranges: the first `adapt` images and the next `heldOut` redrawn in the
 * new hand, the rest kept as plain MNIST. (The guard's check set comes from the validation split, so none of these
 * is in it.)
 */
export function adaptationSplit(
  test: LabelledImages,
  adapt = 256,
  heldOut = 2000,
  style: HandStyle = BENCH_HAND,
  seed = NEW_HAND_SEED,
): AdaptationSplit {
  const a = slice(test, 0, adapt);
  const h = slice(test, adapt, adapt + heldOut);
  return {
    adapt: { ...a, images: drawInHand(a.images, a.count, style, seed) },
    heldOut: { ...h, images: drawInHand(h.images, h.count, style, seed ^ 0x5a5a5a) },
    mnist: slice(test, adapt + heldOut, test.count),
  };
}
