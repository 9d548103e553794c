/**
 * @module
 * Batch assembly for training: copies shuffled examples into one batch buffer, optionally shifting each image by
 * a few pixels at random (the cheapest augmentation that helps an MLP on MNIST). No file system here.
 */

/** Largest shift, in pixels, in each direction. */
export const MAX_SHIFT = 2;

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

/**
 * Fills `x` [n×rows·cols] and `labels` [n] with examples `order[start..start+n)` of `images`/`source labels`,
 * each shifted by up to MAX_SHIFT pixels when `rng` is given.
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
  rng: (() => number) | null,
): void {
  const size = rows * cols;
  for (let i = 0; i < n; i++) {
    const e = order[start + i];
    const src = images.subarray(e * size, (e + 1) * size);
    const dst = x.subarray(i * size, (i + 1) * size);
    if (rng) {
      const span = 2 * MAX_SHIFT + 1;
      shiftImage(
        src,
        dst,
        rows,
        cols,
        Math.floor(rng() * span) - MAX_SHIFT,
        Math.floor(rng() * span) - MAX_SHIFT,
      );
    } else {
      dst.set(src);
    }
    labels[i] = sourceLabels[e];
  }
}
