/**
 * @module
 * Resampling of grey images for the MNIST pipeline (`preprocess.ts`): area averaging when shrinking, bilinear when
 * growing, each axis's weights worked out once and cached by size (small sizes only, so the cache stays small).
 * Pure (typed arrays and Math only).
 */

/**
 * Samples `src` [sh×sw] on a [th×tw] grid covering it: area averaging when shrinking, bilinear when growing.
 * Written into the first tw·th elements of `dst` when given (returned), else into a new array.
 */
export function resample(
  src: Float32Array,
  sw: number,
  sh: number,
  tw: number,
  th: number,
  dst: Float32Array = new Float32Array(tw * th),
): Float32Array {
  const sx = sw / tw;
  const sy = sh / th;
  return sx >= 1 && sy >= 1
    ? areaResample(src, sw, sh, tw, th, dst)
    : bilinearResample(src, sw, sh, tw, th, dst);
}

/**
 * The source pixels each target pixel of one axis covers, and their weights: target `t` covers source pixels
 * `first[t]` .. `first[t] + count[t] - 1` with `weights` from `start[t]` on (the covered part of each pixel).
 */
function coverage(size: number, targets: number): Coverage {
  return cached(coverages, size, targets, coverageOf);
}

/**
 * `make(from, to)`, kept in `cache` for sides up to `MAX_CACHED_SIDE` (the sizes of 28×28 inputs repeat; pictures
 * of many sizes only refill it, never past `MAX_TABLES`).
 */
function cached<T>(
  cache: Map<number, T>,
  from: number,
  to: number,
  make: (from: number, to: number) => T,
): T {
  if (from > MAX_CACHED_SIDE || to > MAX_CACHED_SIDE) return make(from, to);
  const key = from * 65536 + to;
  let table = cache.get(key);
  if (!table) {
    if (cache.size >= MAX_TABLES) cache.clear();
    table = make(from, to);
    cache.set(key, table);
  }
  return table;
}

interface Coverage {
  step: number;
  first: Int32Array;
  count: Int32Array;
  start: Int32Array;
  weights: Float64Array;
}

/** Coverage tables by size and target count (read only, so shared by every call). */
const coverages = new Map<number, Coverage>();
/** At most this many tables of each kind, each for sides of at most `MAX_CACHED_SIDE`: well under 1 MB. */
const MAX_TABLES = 128;
const MAX_CACHED_SIDE = 256;

function coverageOf(size: number, targets: number): Coverage {
  const step = size / targets;
  const first = new Int32Array(targets);
  const count = new Int32Array(targets);
  const start = new Int32Array(targets + 1);
  const weights: number[] = [];
  for (let t = 0; t < targets; t++) {
    const p0 = t * step;
    const p1 = p0 + step;
    first[t] = Math.floor(p0);
    start[t] = weights.length;
    for (let p = Math.floor(p0); p < p1 - 1e-9; p++) weights.push(Math.min(p + 1, p1) - Math.max(p, p0));
    count[t] = weights.length - start[t];
  }
  start[targets] = weights.length;
  return { step, first, count, start, weights: Float64Array.from(weights) };
}

interface BilinearColumns {
  x0s: Int32Array;
  x1s: Int32Array;
  axs: Float64Array;
}

/** Bilinear column tables by source and target width (read only, shared like `coverages`). */
const bilinearTables = new Map<number, BilinearColumns>();

/** For each target column of a `sw` → `tw` bilinear resampling: its two source columns and the second's weight. */
function bilinearColumns(sw: number, tw: number): BilinearColumns {
  return cached(bilinearTables, sw, tw, bilinearColumnsOf);
}

function bilinearColumnsOf(sw: number, tw: number): BilinearColumns {
  const sx = sw / tw;
  const x0s = new Int32Array(tw);
  const x1s = new Int32Array(tw);
  const axs = new Float64Array(tw);
  for (let tx = 0; tx < tw; tx++) {
    const fx = Math.min(sw - 1, Math.max(0, (tx + 0.5) * sx - 0.5));
    x0s[tx] = Math.floor(fx);
    x1s[tx] = Math.min(sw - 1, x0s[tx] + 1);
    axs[tx] = fx - x0s[tx];
  }
  return { x0s, x1s, axs };
}

/**
 * Mean of `src` over each target pixel's rectangle, partial pixels weighted by their covered area. The weights of
 * a row and a column are worked out once per axis; each sum is the same products in the same order as a direct
 * computation per pixel, so the results are the same numbers.
 */
function areaResample(
  src: Float32Array,
  sw: number,
  sh: number,
  tw: number,
  th: number,
  out: Float32Array,
): Float32Array {
  if (sw === tw && sh === th) {
    // One source pixel per target pixel with weight 1: each mean is (0 + 1·1·v) / (1·1).
    for (let i = 0, n = tw * th; i < n; i++) out[i] = 0 + src[i];
    return out;
  }
  const cx = coverage(sw, tw);
  const cy = coverage(sh, th);
  const area = cx.step * cy.step;
  for (let ty = 0; ty < th; ty++) {
    const y0 = cy.first[ty];
    for (let tx = 0; tx < tw; tx++) {
      const x0 = cx.first[tx];
      let sum = 0;
      for (let j = 0; j < cy.count[ty]; j++) {
        const wy = cy.weights[cy.start[ty] + j];
        const row = (y0 + j) * sw + x0;
        for (let k = 0; k < cx.count[tx]; k++) sum += cx.weights[cx.start[tx] + k] * wy * src[row + k];
      }
      out[ty * tw + tx] = sum / area;
    }
  }
  return out;
}

/** Bilinear samples, pixel centres mapped to pixel centres, edges clamped; each axis's positions worked out once. */
function bilinearResample(
  src: Float32Array,
  sw: number,
  sh: number,
  tw: number,
  th: number,
  out: Float32Array,
): Float32Array {
  const sy = sh / th;
  const { x0s, x1s, axs } = bilinearColumns(sw, tw);
  for (let ty = 0; ty < th; ty++) {
    const fy = Math.min(sh - 1, Math.max(0, (ty + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(sh - 1, y0 + 1);
    const ay = fy - y0;
    for (let tx = 0; tx < tw; tx++) {
      const x0 = x0s[tx];
      const x1 = x1s[tx];
      const ax = axs[tx];
      const top = src[y0 * sw + x0] * (1 - ax) + src[y0 * sw + x1] * ax;
      const bottom = src[y1 * sw + x0] * (1 - ax) + src[y1 * sw + x1] * ax;
      out[ty * tw + tx] = top * (1 - ay) + bottom * ay;
    }
  }
  return out;
}
