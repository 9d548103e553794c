/**
 * @module
 * The ink map of a grey image (`toInk`): white ink on black in [0, 1], the paper removed, noise and isolated
 * specks zeroed; and where its ink lies (`InkExtent`), found while the map is made. Pure (typed arrays and Math
 * only). Not the MNIST pipeline built on it (`preprocess.ts`).
 */
import { eraseBoxLines, mayBeBoxed } from './box-lines.ts';
import { flattenShading } from './shading.ts';

/** Ink fainter than this (0-1, after background removal) is treated as noise: it neither counts nor shows. */
export const INK_FLOOR = 0.1;

/**
 * Where an ink map's ink lies: the bounding box of its non-zero pixels (`x1 < 0` when there are none) and its
 * mass, their sum in row-major order (what the blank test, `hasInk` and the preparation's crop all add up).
 */
export interface InkExtent {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  mass: number;
}

/** The extent of an ink map [height×width], by one pass over it. */
export function inkExtent(ink: Float32Array, width: number, height: number): InkExtent {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  let mass = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const v = ink[i];
      if (v === 0) continue;
      mass += v;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return { x0, y0, x1, y1, mass };
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
 * Ink in [0, 1] per pixel, white-on-black: a form box's lines erased (`eraseBoxLines`), the paper's tilt taken out
 * (uneven light, `flattenShading`), inverted when the paper (border) is light, the paper's level subtracted and the rest stretched to [0, 1]. Noise is
 * zeroed: ink below `INK_FLOOR` or below three times the paper's own variation (a noisy scan), and isolated
 * specks (an inked pixel none of whose 8 neighbours is inked).
 */
export function toInk(gray: Float32Array, width: number, height: number): Float32Array {
  const ink = new Float32Array(gray.length);
  toInkInto(gray, width, height, ink);
  return ink;
}

/**
 * `toInk` written into `ink` (`image.length` elements, every one written; it may not be `image`), and where that
 * ink lies: the same numbers as `inkExtent` of the map, found from the speck test's row masks for narrow images.
 */
export function toInkInto(image: Float32Array, width: number, height: number, ink: Float32Array): InkExtent {
  // A uniform frame (an MNIST-style margin, a clean scan) is the paper unless it is a box around a lighter inside.
  const plain = uniformBorder(image, width, height) && !mayBeBoxed(image, image[0]);
  const gray = plain ? image : flattenShading(eraseBoxLines(image, width, height), width, height);
  let { level: paper, spread } = borderStats(gray, width, height);
  const invert = paper > 0.5;
  if (invert) paper = 1 - paper;
  const range = 1 - paper;
  const n = gray.length;
  if (range < 1e-6) {
    ink.fill(0, 0, n);
    return { x0: width, y0: height, x1: -1, y1: -1, mass: 0 };
  }
  const floor = Math.max(INK_FLOOR, (3 * spread) / range);
  if (width <= 30) {
    const mode = !invert && paper === 0 && range === 1 ? BLACK_PAPER : invert ? LIGHT_PAPER : DARK_PAPER;
    return removeSpecksNarrow(
      ink,
      width,
      height,
      inkRowsNarrow(gray, width, height, ink, mode, paper, range, floor),
    );
  }
  if (!invert && paper === 0 && range === 1) {
    // Black paper (an MNIST-style image): v = (g − 0) / 1 is g itself.
    for (let i = 0; i < n; i++) {
      const v = gray[i];
      ink[i] = v < floor ? 0 : Math.min(1, v);
    }
  } else if (invert) {
    for (let i = 0; i < n; i++) {
      const v = (1 - gray[i] - paper) / range;
      ink[i] = v < floor ? 0 : Math.min(1, v);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = (gray[i] - paper) / range;
      ink[i] = v < floor ? 0 : Math.min(1, v);
    }
  }
  removeSpecks(ink, width, height);
  return inkExtent(ink, width, height);
}

/** Zeroes inked pixels none of whose 8 neighbours is inked, in place. */
function removeSpecks(ink: Float32Array, width: number, height: number): void {
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

/** `toInkInto`'s three ways from grey to ink: v = g on black paper, else stretched, inverted on light paper. */
const BLACK_PAPER = 0;
const LIGHT_PAPER = 1;
const DARK_PAPER = 2;

/** Row masks of `inkRowsNarrow` (rows 0 and height + 1 stay 0), reused from call to call. */
let rowScratch = new Int32Array(64);

/**
 * `toInkInto`'s ink values for images at most 30 pixels wide, as its wide loops compute them, and each row's
 * inked pixels as the bits of one integer, made in the same pass: the masks `removeSpecksNarrow` reads.
 */
function inkRowsNarrow(
  gray: Float32Array,
  width: number,
  height: number,
  ink: Float32Array,
  mode: number,
  paper: number,
  range: number,
  floor: number,
): Int32Array {
  if (rowScratch.length < height + 2) rowScratch = new Int32Array(height + 2);
  const rows = rowScratch;
  rows[0] = 0;
  rows[height + 1] = 0;
  for (let y = 0, i = 0; y < height; y++) {
    let bits = 0;
    for (let x = 0; x < width; x++, i++) {
      const g = gray[i];
      const v =
        mode === BLACK_PAPER ? g : mode === LIGHT_PAPER ? (1 - g - paper) / range : (g - paper) / range;
      const out = v < floor ? 0 : Math.min(1, v);
      ink[i] = out;
      if (out !== 0) bits |= 1 << x;
    }
    rows[y + 1] = bits;
  }
  return rows;
}

/**
 * `removeSpecks` for images at most 30 pixels wide (the JSON API's 28×28), and the ink's extent, from the rows'
 * masks (`inkRowsNarrow`): a row's specks are its bits with none of the 8 neighbours' bits set (the rows around
 * shifted by −1, 0, +1, its own by ±1), all decided on the map before any is removed, as `removeSpecks` does.
 * The extent is read from the masks left; the mass adds each row's pixels left to right.
 */
function removeSpecksNarrow(ink: Float32Array, width: number, height: number, rows: Int32Array): InkExtent {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  let mass = 0;
  let columns = 0;
  for (let y = 0; y < height; y++) {
    const own = rows[y + 1];
    if (own === 0) continue;
    const around = rows[y] | rows[y + 2];
    // The masks are not changed: every speck is decided on the map as it was.
    const near = around | (around << 1) | (around >>> 1) | (own << 1) | (own >>> 1);
    let kept = own & near;
    for (let specks = own & ~near; specks !== 0; specks &= specks - 1) {
      ink[y * width + 31 - Math.clz32(specks & -specks)] = 0;
    }
    if (kept === 0) continue;
    if (y < y0) y0 = y;
    y1 = y;
    columns |= kept;
    for (const row = y * width; kept !== 0; kept &= kept - 1)
      mass += ink[row + 31 - Math.clz32(kept & -kept)];
  }
  if (columns !== 0) {
    x0 = 31 - Math.clz32(columns & -columns);
    x1 = 31 - Math.clz32(columns);
  }
  return { x0, y0, x1, y1, mass };
}
