/**
 * @module
 * The corruptions of `npm run eval-robustness`, in the spirit of MNIST-C (Mu and Gilmer, 2019): each turns one
 * MNIST test digit (28×28, white on black, [0, 1]) into the picture a user might send. Deliberately separate code
 * from the training augmentation (`augment.ts`): other resampling, other kernels, other ranges, their own seeds,
 * so the benchmark does not measure the training distribution. `overlap` says honestly which ones the training
 * augmentation also covers (in a narrower range) and which are held out entirely.
 * Pure (typed arrays and Math).
 */
import type { RasterImage } from '../../src/data/preprocess.ts';
import { createNormal } from '../../src/nn/index.ts';

const SIDE = 28;

/** How a corruption relates to the training augmentation. */
export type Overlap = 'held out' | 'beyond training range' | 'normalised by preprocessing';

export interface Corruption {
  name: string;
  /** What it does, for the table. */
  description: string;
  overlap: Overlap;
  /** The corrupted picture of `digit` [784]; `rng` is this corruption's own seeded stream. */
  apply(digit: Float32Array, rng: () => number): RasterImage;
}

/**
 * A digit [784] cut to the bounding box of its ink, as a client that crops its drawing before sending it would:
 * ink on every edge of the frame, no margin.
 */
export function cropToInk(digit: Float32Array): RasterImage {
  let [x0, y0, x1, y1] = [SIDE, SIDE, -1, -1];
  for (let y = 0; y < SIDE; y++)
    for (let x = 0; x < SIDE; x++)
      if (digit[y * SIDE + x] > 0)
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  if (x1 < 0) return gray28(Float32Array.from(digit));
  const width = x1 - x0 + 1;
  const height = y1 - y0 + 1;
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++)
    data.set(digit.subarray((y + y0) * SIDE + x0, (y + y0) * SIDE + x1 + 1), y * width);
  return { width, height, channels: 1, data, maxValue: 1 };
}

const pick = (rng: () => number, lo: number, hi: number) => lo + rng() * (hi - lo);
const sign = (rng: () => number) => (rng() < 0.5 ? -1 : 1);

function gray28(data: Float32Array): RasterImage {
  return { width: SIDE, height: SIDE, channels: 1, data, maxValue: 1 };
}

/**
 * Inverse mapping with bicubic (Catmull-Rom) interpolation, clamped to [0, 1]: `map(x, y)` gives the source point
 * of output pixel (x, y). (The augmentation samples bilinearly.)
 */
export function remap(src: Float32Array, side: number, map: (x: number, y: number) => [number, number]) {
  const out = new Float32Array(side * side);
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= side || y >= side ? 0 : src[y * side + x]);
  const w = (t: number) => {
    const a = Math.abs(t);
    return a < 1 ? 1.5 * a ** 3 - 2.5 * a ** 2 + 1 : a < 2 ? -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2 : 0;
  };
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const [sx, sy] = map(x, y);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      let v = 0;
      for (let j = -1; j <= 2; j++) {
        const wy = w(sy - (y0 + j));
        if (wy === 0) continue;
        for (let i = -1; i <= 2; i++) v += wy * w(sx - (x0 + i)) * at(x0 + i, y0 + j);
      }
      out[y * side + x] = Math.min(1, Math.max(0, v));
    }
  }
  return out;
}

/** A linear map about the centre: output p reads source M⁻¹(p − c) + c, M = [a b; c d]. */
function linear(src: Float32Array, a: number, b: number, c: number, d: number, tx = 0, ty = 0) {
  const det = a * d - b * c;
  const m = (SIDE - 1) / 2;
  return remap(src, SIDE, (x, y) => {
    const px = x - m - tx;
    const py = y - m - ty;
    return [(d * px - b * py) / det + m, (-c * px + a * py) / det + m];
  });
}

/** Upsamples ×`k` by pixel replication (nearest), the way a zoomed-in screenshot looks. */
function upNearest(src: Float32Array, side: number, k: number): Float32Array {
  const big = side * k;
  const out = new Float32Array(big * big);
  for (let y = 0; y < big; y++)
    for (let x = 0; x < big; x++) out[y * big + x] = src[Math.floor(y / k) * side + Math.floor(x / k)];
  return out;
}

/** Block average ×`k` down. */
function downBox(src: Float32Array, big: number, k: number): Float32Array {
  const side = big / k;
  const out = new Float32Array(side * side);
  for (let y = 0; y < big; y++)
    for (let x = 0; x < big; x++) out[Math.floor(y / k) * side + Math.floor(x / k)] += src[y * big + x];
  for (let i = 0; i < out.length; i++) out[i] /= k * k;
  return out;
}

/** Grey-level max (or min) over a disk of `radius` pixels. */
function diskFilter(src: Float32Array, side: number, radius: number, max: boolean): Float32Array {
  const out = new Float32Array(side * side);
  const r = Math.ceil(radius);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      let v = src[y * side + x];
      for (let j = -r; j <= r; j++) {
        for (let i = -r; i <= r; i++) {
          if (i * i + j * j > radius * radius) continue;
          const yy = y + j;
          const xx = x + i;
          const s = yy < 0 || xx < 0 || yy >= side || xx >= side ? 0 : src[yy * side + xx];
          v = max ? Math.max(v, s) : Math.min(v, s);
        }
      }
      out[y * side + x] = v;
    }
  }
  return out;
}

/** Stroke width changed at 4× resolution by a disk of `radius` (4× pixels), then box-averaged back to 28×28. */
function strokeWidth(digit: Float32Array, radius: number, thicker: boolean): Float32Array {
  return downBox(diskFilter(upNearest(digit, SIDE, 4), SIDE * 4, radius, thicker), SIDE * 4, 4);
}

/** A random smooth field: uniform noise smoothed by three box passes of width `w` (≈ Gaussian). */
function smoothField(rng: () => number, side: number, w: number): Float32Array {
  let f = Float32Array.from({ length: side * side }, () => rng() * 2 - 1);
  for (let pass = 0; pass < 3; pass++) {
    const g = new Float32Array(side * side);
    const r = w >> 1;
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) {
        let s = 0;
        for (let j = -r; j <= r; j++)
          for (let i = -r; i <= r; i++) {
            const yy = Math.min(side - 1, Math.max(0, y + j));
            const xx = Math.min(side - 1, Math.max(0, x + i));
            s += f[yy * side + xx];
          }
        g[y * side + x] = s / (w * w);
      }
    f = g;
  }
  return f;
}

/** A binary image widened by `pen` pixels: every pixel within that (chamfer 3-4) distance of ink. */
function widen(ink: Float32Array, side: number, pen: number): Float32Array {
  const far = 1e9;
  const dist = Float32Array.from(ink, (v) => (v > 0 ? 0 : far));
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= side || y >= side ? far : dist[y * side + x]);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const o = y * side + x;
      dist[o] = Math.min(
        dist[o],
        at(x - 1, y) + 3,
        at(x, y - 1) + 3,
        at(x - 1, y - 1) + 4,
        at(x + 1, y - 1) + 4,
      );
    }
  for (let y = side - 1; y >= 0; y--)
    for (let x = side - 1; x >= 0; x--) {
      const o = y * side + x;
      dist[o] = Math.min(
        dist[o],
        at(x + 1, y) + 3,
        at(x, y + 1) + 3,
        at(x + 1, y + 1) + 4,
        at(x - 1, y + 1) + 4,
      );
    }
  return Float32Array.from(dist, (d) => (d <= 3 * pen ? 1 : 0));
}

/** A hard-edged digit drawn large on a light canvas, the way a pen on a canvas renders it. */
function canvasDrawing(digit: Float32Array, rng: () => number): RasterImage {
  const side = 280;
  const k = 10;
  // Bilinear upsampling then a threshold: a solid stroke with a smooth outline, no grey levels inside.
  const big = digit;
  const scale = pick(rng, 0.5, 1.0);
  const m = (side - 1) / 2;
  const dx = pick(rng, -40, 40);
  const dy = pick(rng, -40, 40);
  const threshold = pick(rng, 0.3, 0.6);
  const pen = pick(rng, 0, 10);
  const ink = new Float32Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      // Source point in 28×28 coordinates, bilinear there.
      const sx = ((x - m - dx) / scale + m) / k;
      const sy = ((y - m - dy) / scale + m) / k;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < 0 || y0 < 0 || x0 >= SIDE - 1 || y0 >= SIDE - 1) continue;
      const ax = sx - x0;
      const ay = sy - y0;
      const v =
        (big[y0 * SIDE + x0] * (1 - ax) + big[y0 * SIDE + x0 + 1] * ax) * (1 - ay) +
        (big[(y0 + 1) * SIDE + x0] * (1 - ax) + big[(y0 + 1) * SIDE + x0 + 1] * ax) * ay;
      ink[y * side + x] = v > threshold ? 1 : 0;
    }
  }
  const stroked = pen >= 1 ? widen(ink, side, pen) : ink;
  // Anti-aliased edge (2×2 box), dark ink on white paper, RGBA like a canvas PNG.
  const data = new Uint8Array(side * side * 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v =
        (stroked[y * side + x] +
          stroked[y * side + Math.min(side - 1, x + 1)] +
          stroked[Math.min(side - 1, y + 1) * side + x] +
          stroked[Math.min(side - 1, y + 1) * side + Math.min(side - 1, x + 1)]) /
        4;
      const g = Math.round(255 * (1 - v));
      data.set([g, g, g, 255], (y * side + x) * 4);
    }
  }
  return { width: side, height: side, channels: 4, data, maxValue: 255 };
}

/** The table: one row per corruption, one fixed severity range each. */
export const CORRUPTIONS: Corruption[] = [
  {
    name: 'rotation',
    description: 'rotated 15-30° either way (bicubic)',
    overlap: 'beyond training range',
    apply: (d, rng) => {
      const t = (sign(rng) * pick(rng, 15, 30) * Math.PI) / 180;
      return gray28(linear(d, Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)));
    },
  },
  {
    name: 'shear',
    description: 'sheared 0.3-0.6 horizontally or vertically',
    overlap: 'beyond training range',
    apply: (d, rng) => {
      const s = sign(rng) * pick(rng, 0.3, 0.6);
      return gray28(rng() < 0.5 ? linear(d, 1, s, 0, 1) : linear(d, 1, 0, s, 1));
    },
  },
  {
    name: 'scale',
    description: 'scaled to 50-75% or 115-130%',
    overlap: 'normalised by preprocessing',
    apply: (d, rng) => {
      const s = rng() < 0.6 ? pick(rng, 0.5, 0.75) : pick(rng, 1.15, 1.3);
      return gray28(linear(d, s, 0, 0, s));
    },
  },
  {
    name: 'translation',
    description: 'moved 4-7 px in a random direction (clipped at the frame)',
    overlap: 'normalised by preprocessing',
    apply: (d, rng) => {
      const a = rng() * 2 * Math.PI;
      const r = pick(rng, 4, 7);
      return gray28(linear(d, 1, 0, 0, 1, Math.round(r * Math.cos(a)), Math.round(r * Math.sin(a))));
    },
  },
  {
    name: 'thick',
    description: 'strokes widened by a disk of 0.75-1.25 px (at 4× resolution)',
    overlap: 'beyond training range',
    apply: (d, rng) => gray28(strokeWidth(d, pick(rng, 3, 5), true)),
  },
  {
    name: 'thin',
    description: 'strokes narrowed by a disk of 0.5-0.75 px (at 4× resolution)',
    overlap: 'beyond training range',
    apply: (d, rng) => gray28(strokeWidth(d, pick(rng, 2, 3), false)),
  },
  {
    name: 'blur',
    description: 'defocus blur: a disk of radius 1.5-2 px',
    overlap: 'beyond training range',
    apply: (d, rng) => {
      const r = pick(rng, 1.5, 2);
      const big = upNearest(d, SIDE, 4);
      const side = SIDE * 4;
      const rr = Math.round(r * 4);
      const out = new Float32Array(side * side);
      // Mean over a disk at 4× resolution.
      for (let y = 0; y < side; y += 1)
        for (let x = 0; x < side; x++) {
          let s = 0;
          let n = 0;
          for (let j = -rr; j <= rr; j += 2)
            for (let i = -rr; i <= rr; i += 2) {
              if (i * i + j * j > rr * rr) continue;
              const yy = y + j;
              const xx = x + i;
              n++;
              if (yy >= 0 && xx >= 0 && yy < side && xx < side) s += big[yy * side + xx];
            }
          out[y * side + x] = s / n;
        }
      return gray28(downBox(out, side, 4));
    },
  },
  {
    name: 'noise',
    description: 'Gaussian noise σ 0.2 and 2% salt-and-pepper pixels, clipped',
    overlap: 'held out',
    apply: (d, rng) => {
      const normal = createNormal(rng);
      return gray28(
        Float32Array.from(d, (v) => {
          const u = rng();
          if (u < 0.01) return 1;
          if (u < 0.02) return 0;
          return Math.min(1, Math.max(0, v + 0.2 * normal()));
        }),
      );
    },
  },
  {
    name: 'low resolution',
    description: 'block-averaged to 7-14 px a side, shown pixelated (nearest) at 28×28',
    overlap: 'beyond training range',
    apply: (d, rng) => {
      const k = [2, 3, 4][Math.floor(rng() * 3)];
      // Pad to a multiple of k, box down, replicate up, crop.
      const padded = Math.ceil(SIDE / k) * k;
      const p = new Float32Array(padded * padded);
      for (let y = 0; y < SIDE; y++) p.set(d.subarray(y * SIDE, (y + 1) * SIDE), y * padded);
      const up = upNearest(downBox(p, padded, k), padded / k, k);
      const out = new Float32Array(SIDE * SIDE);
      for (let y = 0; y < SIDE; y++) out.set(up.subarray(y * padded, y * padded + SIDE), y * SIDE);
      return gray28(out);
    },
  },
  {
    name: 'elastic',
    description: 'elastic distortion, fields smoothed by 3 box passes of 5 px, α 8-13',
    overlap: 'beyond training range',
    apply: (d, rng) => {
      const alpha = pick(rng, 8, 13);
      const fx = smoothField(rng, SIDE, 5);
      const fy = smoothField(rng, SIDE, 5);
      return gray28(remap(d, SIDE, (x, y) => [x + alpha * fx[y * SIDE + x], y + alpha * fy[y * SIDE + x]]));
    },
  },
  {
    name: 'canvas',
    description:
      '280×280 canvas drawing: solid pen strokes 0-20 px wider, dark on white, 50-100% size, anywhere',
    overlap: 'held out',
    apply: canvasDrawing,
  },
  {
    name: 'uneven light',
    description:
      'dark on a paper lit from one side: its light falls to 50-70% across the picture, any direction',
    overlap: 'held out',
    apply: (d, rng) => {
      const low = pick(rng, 0.5, 0.7);
      const angle = rng() * 2 * Math.PI;
      const [ux, uy] = [Math.cos(angle), Math.sin(angle)];
      const span = (Math.abs(ux) + Math.abs(uy)) * (SIDE - 1);
      const data = new Float32Array(SIDE * SIDE);
      for (let y = 0; y < SIDE; y++)
        for (let x = 0; x < SIDE; x++) {
          // Distance along the light's direction from the darkest corner, 0..1.
          const t = (ux * (x - (ux < 0 ? SIDE - 1 : 0)) + uy * (y - (uy < 0 ? SIDE - 1 : 0))) / span;
          data[y * SIDE + x] = (low + (1 - low) * t) * (1 - 0.85 * d[y * SIDE + x]);
        }
      return gray28(data);
    },
  },
  {
    name: 'boxed',
    description:
      "dark on white, cut out along its form field's printed box: lines of 1-3 px, grey 0-40%, at the frame",
    overlap: 'held out',
    apply: (d, rng) => {
      const line = 1 + Math.floor(rng() * 3);
      const tone = pick(rng, 0, 0.4);
      const data = Float32Array.from(d, (v) => 1 - v);
      for (let y = 0; y < SIDE; y++)
        for (let x = 0; x < SIDE; x++)
          if (Math.min(x, y, SIDE - 1 - x, SIDE - 1 - y) < line) data[y * SIDE + x] = tone;
      return gray28(data);
    },
  },
  {
    name: 'cropped',
    description: 'cut to the bounding box of its ink (no margin), dark on white half the time',
    overlap: 'held out',
    apply: (d, rng) => {
      const crop = cropToInk(d);
      return rng() < 0.5 ? crop : { ...crop, data: Float32Array.from(crop.data, (v) => 1 - v) };
    },
  },
];
