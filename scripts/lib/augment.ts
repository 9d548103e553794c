/**
 * @module
 * Batch assembly for training: copies shuffled examples into one batch buffer, optionally shifting each image by
 * a few pixels at random (the cheapest augmentation that helps an MLP on MNIST) and mirroring it left-right
 * (which helps on Fashion-MNIST, never on digits). No file system here.
 */

import { createRng, shuffleInPlace } from '../../src/nn/index.ts';

/** Default largest shift, in pixels, in each direction. */
export const MAX_SHIFT = 2;

/** Random changes applied to each training image as it is copied into a batch. */
export interface Augmentation {
  rng: () => number;
  /** Largest shift in pixels in each direction; 0 = none. */
  maxShift: number;
  /** Mirror left-right with probability 1/2. */
  flip: boolean;
}

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

/**
 * Fills `x` [n×rows·cols] and `labels` [n] with examples `order[start..start+n)` of `images`/`source labels`,
 * each shifted and/or mirrored at random as `augment` says (copied as they are when it is null).
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
  augment: Augmentation | null,
): void {
  const size = rows * cols;
  for (let i = 0; i < n; i++) {
    const e = order[start + i];
    const src = images.subarray(e * size, (e + 1) * size);
    const dst = x.subarray(i * size, (i + 1) * size);
    if (augment && augment.maxShift > 0) {
      const { rng, maxShift } = augment;
      const span = 2 * maxShift + 1;
      shiftImage(
        src,
        dst,
        rows,
        cols,
        Math.floor(rng() * span) - maxShift,
        Math.floor(rng() * span) - maxShift,
      );
    } else {
      dst.set(src);
    }
    if (augment?.flip && augment.rng() < 0.5) flipImage(dst, rows, cols);
    labels[i] = sourceLabels[e];
  }
}

/** What `BatchSource` needs of the training flags (`TrainOptions` has them all). */
export interface BatchOptions {
  seed: number;
  augment: boolean;
  shift: number;
  flip: boolean;
}

/**
 * The training set as `npm run train` feeds it: a fresh seeded shuffle each epoch, and each batch shifted and/or
 * mirrored from its own seeded stream. One place, so the time-to-accuracy benchmark trains exactly as the script.
 */
export class BatchSource {
  /** The current batch [batch×rows·cols] (give it kernel memory to spare the kernels a copy) and its labels. */
  readonly labels: Uint8Array;
  private readonly order: Uint32Array;
  private readonly shuffleRng: () => number;
  readonly augmentation: Augmentation | null;

  constructor(
    private readonly images: Float32Array,
    private readonly sourceLabels: Uint8Array,
    readonly rows: number,
    readonly cols: number,
    readonly batch: number,
    readonly x: Float32Array,
    options: BatchOptions,
  ) {
    this.labels = new Uint8Array(batch);
    this.order = new Uint32Array(sourceLabels.length).map((_, i) => i);
    this.shuffleRng = createRng(options.seed ^ 0x5f1e);
    this.augmentation =
      options.augment || options.flip
        ? {
            rng: createRng(options.seed ^ 0xa46),
            maxShift: options.augment ? options.shift : 0,
            flip: options.flip,
          }
        : null;
  }

  /** Examples in the training set. */
  get count(): number {
    return this.order.length;
  }

  /** Starts an epoch: a new order of the examples. */
  shuffle(): void {
    shuffleInPlace(this.order, this.shuffleRng);
  }

  /** Fills `x` and `labels` with the batch starting at position `start` of this epoch; returns its row count. */
  fill(start: number): number {
    const n = Math.min(this.batch, this.count - start);
    gatherBatch(
      this.images,
      this.sourceLabels,
      this.order,
      start,
      n,
      this.rows,
      this.cols,
      this.x,
      this.labels,
      this.augmentation,
    );
    return n;
  }
}
