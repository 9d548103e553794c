/**
 * @module
 * Batch assembly for training: copies shuffled examples into one batch buffer, each changed at random by the
 * augmentation (`augment.ts`) and/or mirrored, then prepared by `src/data/preprocess.ts` exactly as `/predict`
 * prepares an uploaded image. One place, so the time-to-accuracy benchmark trains exactly as the script.
 * No file system here.
 */
import { fromPixels, preprocess, PreprocessError, type Preparation } from '../../src/data/preprocess.ts';
import { createRng, shuffleInPlace } from '../../src/nn/index.ts';
import { Augmenter, flipImage, gatherBatch, type AugmentConfig, type ImageTransform } from './augment.ts';
import type { Examples } from './dataset.ts';

/**
 * `image` [28×28] as `/predict` prepares it (`preprocess(fromPixels(image))`), written into `dst`; an image
 * without ink (which the API refuses with 422) is copied as it is.
 */
export function prepareInto(image: Float32Array, dst: Float32Array, preparation: Preparation = {}): void {
  try {
    dst.set(preprocess(fromPixels(image), preparation));
  } catch (error) {
    if (!(error instanceof PreprocessError)) throw error;
    dst.set(image);
  }
}

/** Examples prepared as `/predict` prepares them (a new copy); for validation and test sets. */
export function prepareExamples(examples: Examples, preparation: Preparation = {}): Examples {
  const size = examples.images.length / Math.max(1, examples.count);
  const images = new Float32Array(examples.images.length);
  for (let i = 0; i < examples.count; i++) {
    prepareInto(
      examples.images.subarray(i * size, (i + 1) * size),
      images.subarray(i * size, (i + 1) * size),
      preparation,
    );
  }
  return { count: examples.count, images, labels: examples.labels };
}

/** What `BatchSource` needs of the training flags (`TrainOptions` has them all). */
export interface BatchOptions {
  seed: number;
  augment: boolean;
  augmentation: AugmentConfig;
  flip: boolean;
  preprocess: boolean;
  /** With `preprocess`: straighten the slant too. */
  deskew?: boolean;
  /**
   * With `deskew`: the share of images deskewed (each drawn afresh every time it is seen; the rest are prepared
   * plainly). 1 (when absent) deskews every image as /predict does; `npm run train`'s default is 0.5.
   */
  deskewShare?: number;
}

/** What the epoch loop takes batches from: a `BatchSource`, or `PrefetchedBatches` running one ahead. */
export interface BatchStream {
  /** The current batch [batch×rows·cols] and its labels. */
  readonly x: Float32Array;
  readonly labels: Uint8Array;
  /** Examples in the training set. */
  readonly count: number;
  /** Seconds the training loop spent in `fill` since construction. */
  readonly fillSeconds: number;
  /** Starts an epoch. */
  shuffle(): void;
  /** Fills `x` and `labels` with the batch starting at position `start` of this epoch; returns its row count. */
  fill(start: number): number;
  /** One line saying what is done to each training image. */
  describe(): string;
}

/**
 * The training set as `npm run train` feeds it: a fresh seeded shuffle each epoch, and each image augmented
 * (a fresh draw every time it is seen), mirrored and/or prepared as the flags say.
 */
export class BatchSource implements BatchStream {
  /** The current batch [batch×rows·cols] (give it kernel memory to spare the kernels a copy) and its labels. */
  readonly labels: Uint8Array;
  readonly augmenter: Augmenter | null;
  /** Seconds spent filling batches (augmenting and preparing included) since construction. */
  fillSeconds = 0;
  private readonly order: Uint32Array;
  private readonly shuffleRng: () => number;
  private readonly transform: ImageTransform | null;
  /** The share of images deskewed: `deskewShare` (1 when absent) with `deskew`, else 0. */
  private readonly deskewShare: number;

  constructor(
    private readonly images: Float32Array,
    private readonly sourceLabels: Uint8Array,
    readonly rows: number,
    readonly cols: number,
    readonly batch: number,
    readonly x: Float32Array,
    readonly options: BatchOptions,
  ) {
    this.labels = new Uint8Array(batch);
    this.order = new Uint32Array(sourceLabels.length).map((_, i) => i);
    this.shuffleRng = createRng(options.seed ^ 0x5f1e);
    this.deskewShare = options.deskew ? (options.deskewShare ?? 1) : 0;
    this.augmenter =
      options.augment && rows === cols
        ? new Augmenter(options.augmentation, options.seed ^ 0xa46, rows)
        : null;
    const flipRng = createRng(options.seed ^ 0xf11);
    const scratch = new Float32Array(rows * cols);
    const steps: ImageTransform[] = [];
    if (this.augmenter) steps.push((src, dst) => this.augmenter!.apply(src, dst));
    if (options.flip) {
      steps.push((src, dst) => {
        if (src !== dst) dst.set(src);
        if (flipRng() < 0.5) flipImage(dst, rows, cols);
      });
    }
    if (options.preprocess) {
      if (rows !== 28 || cols !== 28)
        throw new Error(`preprocessing needs 28×28 images, not ${rows}×${cols}`);
      const deskewed = { deskew: true };
      const plain = { deskew: false };
      const share = this.deskewShare;
      const deskewRng = createRng(options.seed ^ 0xd35c);
      steps.push((src, dst) => prepareInto(src, dst, share >= 1 || deskewRng() < share ? deskewed : plain));
    }
    this.transform =
      steps.length === 0
        ? null
        : (src, dst) => {
            let from = src;
            for (const step of steps) {
              step(from, scratch);
              dst.set(scratch);
              from = dst;
            }
          };
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
    const t0 = performance.now();
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
      this.transform,
    );
    this.fillSeconds += (performance.now() - t0) / 1000;
    return n;
  }

  /** One line saying what is done to each training image. */
  describe(): string {
    const parts: string[] = [];
    const a = this.augmenter?.config;
    if (a) {
      parts.push(
        `affine (±${a.rotate}°, scale ±${a.scale}, shear ±${a.shear}, shift ±${a.shift} px)`,
        ...(a.elastic > 0 ? [`elastic p ${a.elastic} α≤${a.elasticAlpha}`] : []),
        ...(a.thickness > 0 ? [`stroke width p ${a.thickness}`] : []),
        ...(a.blur > 0 ? [`blur p ${a.blur}`] : []),
        ...(a.lowres > 0 ? [`low resolution p ${a.lowres}`] : []),
        ...(a.clean > 0 ? [`${a.clean * 100}% left clean`] : []),
      );
    }
    if (this.options.flip) parts.push('left-right flips');
    if (this.options.preprocess)
      parts.push(
        this.deskewShare === 0
          ? 'MNIST-style preprocessing'
          : this.deskewShare >= 1
            ? 'MNIST-style preprocessing with deskewing'
            : `MNIST-style preprocessing, ${Math.round(this.deskewShare * 100)}% deskewed`,
      );
    return parts.length ? parts.join(', ') : 'images as they are';
  }
}
