/**
 * @module
 * A validated JSON body of `/predict` as the network's input: pixels to [0, 1] in the declared or inferred scale,
 * one ink map per image for the blank test and the preparation, and the preparation itself when asked for or
 * when the answering model was trained on prepared images. Pure (no bindings, no kernels), so the benchmarks run
 * it as the Worker does. Not validation (`schemas.ts`) and not prediction (`predict.ts`).
 */
import type { z } from '@hono/zod-openapi';
import {
  fromPixels,
  inkExtent,
  MIN_INK,
  preprocess,
  PreprocessError,
  preprocessInkInto,
  toGray,
  toInkInto,
  type InkExtent,
  type Preparation,
} from '../data/preprocess.ts';
import { isBlankExtent, isBlankInk } from '../data/verdict.ts';
import { preparationFor } from '../format/metadata.ts';
import { IMAGE_SIDE, INPUT_SIZE } from '../nn/classify.ts';
import type { Config } from './config.ts';
import { ApiError } from './errors.ts';
import { inferPixelScale, type Image, type PixelScaleValue, type PredictRequest } from './schemas.ts';

type Images = z.infer<typeof Image>[];

/** A JSON body's images as the network's input, and what the answer must say about them. */
export interface JsonInput {
  kind: 'json';
  x: Float32Array;
  count: number;
  single: boolean;
  pixelScale: PixelScaleValue;
  inferred: boolean;
  /** Per image: no ink to read (answered `blank`, not guessed). */
  blank: boolean[];
  /** The images' ink maps [count×784] (`toInk`), made once for the blank test and the preparation. */
  ink: Float32Array;
  /** Per image: where its ink lies (`inkExtent` of its map), found while the map was made. */
  extents: InkExtent[];
  minConfidence: number | null;
  /**
   * The body's `preprocess`: true prepares every image, false none, undefined (left out) when the answering model
   * was trained on prepared images. Images are prepared as that model's recipe prepared them (`jsonModelInput`).
   */
  preprocess: boolean | undefined;
}

/** Packs images into the network's input, [n×784] in [0,1]. */
export function toInput(images: Images, scale: PixelScaleValue): Float32Array {
  const x = new Float32Array(images.length * INPUT_SIZE);
  pixelsInto(images, scale, x);
  return x;
}

/** `toInput` written into `x`; whether every value written is in [0, 1] (`inUnitRange`, checked as it goes). */
function pixelsInto(images: Images, scale: PixelScaleValue, x: Float32Array): boolean {
  const divisor = scale === '0-255' ? 255 : 1;
  let inRange = true;
  for (let i = 0, at = 0; i < images.length; i++) {
    const image = images[i];
    // Validated: 784 numbers, or 28 rows of 28 (read row by row, without a flattened copy).
    const rows = Array.isArray(image[0]) ? (image as number[][]) : [image as number[]];
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      for (let j = 0; j < row.length; j++) {
        // The value as stored: a float32 in [0, 1] is what `inUnitRange` accepts.
        const v = Math.fround(row[j] / divisor);
        x[at++] = v;
        if (!(v >= 0 && v <= 1)) inRange = false;
      }
    }
  }
  return inRange;
}

/** The ink maps of [count×784] images (`toInk`, as `preprocess` and the blank test read them). */
export function inkMaps(x: Float32Array, count: number): Float32Array {
  const ink = new Float32Array(count * INPUT_SIZE);
  inkMapsInto(x, count, ink, false);
  return ink;
}

/**
 * `inkMaps` written into `ink` [count×784], and where each image's ink lies; `inRange` says every pixel is
 * already known to be in [0, 1] (`pixelsInto`'s answer), so no image is checked again.
 */
function inkMapsInto(x: Float32Array, count: number, ink: Float32Array, inRange: boolean): InkExtent[] {
  const extents: InkExtent[] = [];
  for (let i = 0; i < count; i++) {
    // One image (the common body) is the whole array: no views to make.
    const pixels = count === 1 ? x : x.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE);
    const map = count === 1 ? ink : ink.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE);
    // On pixels in [0, 1] (every validated JSON image) `toGray` only copies them: its clamp changes nothing and
    // the −0 it turns into +0 makes no difference to `toInk`'s result. So they go to `toInk` as they are.
    const gray = inRange || inUnitRange(pixels) ? pixels : toGray(fromPixels(pixels));
    extents.push(toInkInto(gray, IMAGE_SIDE, IMAGE_SIDE, map));
  }
  return extents;
}

function inUnitRange(pixels: Float32Array): boolean {
  for (let i = 0; i < pixels.length; i++) if (!(pixels[i] >= 0 && pixels[i] <= 1)) return false;
  return true;
}

/** Per image of the ink maps [count×784]: whether it has no ink to read a digit from (see `isBlank`). */
export function blankImages(ink: Float32Array, count: number): boolean[] {
  return Array.from({ length: count }, (_, i) =>
    isBlankInk(ink.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE), IMAGE_SIDE, IMAGE_SIDE),
  );
}

/**
 * Preprocesses a batch of 28×28 images in place, [count×784] in [0, 1], as `preparation` says: the JSON API's
 * `preprocess: true`. Images marked in `skip` (blank ones) are left as they are. `ink` and `extents`, when
 * given, are these images' own (`inkMaps` and where their ink lies): the same result without making them again.
 * @throws {ApiError} 422 `empty_image` naming the first image without ink that was not skipped.
 */
export function preprocessBatch(
  x: Float32Array,
  count: number,
  skip: boolean[] = [],
  ink?: Float32Array,
  preparation: Preparation = {},
  extents?: InkExtent[],
): Float32Array {
  for (let i = 0; i < count; i++) {
    if (skip[i]) continue;
    const image = count === 1 ? x : x.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE);
    try {
      if (ink) {
        const map = count === 1 ? ink : ink.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE);
        const extent = extents?.[i] ?? inkExtent(map, IMAGE_SIDE, IMAGE_SIDE);
        // Written straight over the image: the preparation reads only the ink map.
        preprocessInkInto(map, IMAGE_SIDE, IMAGE_SIDE, extent, preparation, image);
      } else image.set(preprocess(fromPixels(image), preparation));
    } catch (err) {
      if (err instanceof PreprocessError && err.code === 'EMPTY_IMAGE') {
        throw emptyImage(i);
      }
      throw err;
    }
  }
  return x;
}

/** The 422 for image `i` of a batch that has no ink to prepare. */
function emptyImage(i: number): ApiError {
  return new ApiError(422, 'empty_image', `image ${i} is empty: nothing to read a digit from`, { index: i });
}

/**
 * @throws {ApiError} 422 `empty_image` naming the first image, not marked in `skip`, whose ink is too little
 *   to prepare (what `preprocessBatch` would throw, before any model is at hand; `hasInk`'s test on its sum).
 */
function checkInked(extents: InkExtent[], skip: boolean[]): void {
  for (let i = 0; i < extents.length; i++) {
    if (skip[i] || extents[i].mass >= MIN_INK) continue;
    throw emptyImage(i);
  }
}

/**
 * The input of a validated JSON body; the pixel scale is the declared one, else inferred from the pixels.
 * @throws {ApiError} 400 `limit_exceeded` past the deployment's batch size, 422 `empty_image` when preprocessing.
 */
export function jsonInput(body: z.infer<typeof PredictRequest>, cfg: Config): JsonInput {
  const images = body.image ? [body.image] : body.images!;
  if (images.length > cfg.predictMaxBatch) {
    throw new ApiError(400, 'limit_exceeded', `at most ${cfg.predictMaxBatch} images per request`, {
      max: cfg.predictMaxBatch,
      got: images.length,
    });
  }
  const pixelScale = body.pixelScale ?? inferPixelScale(images);
  const x = new Float32Array(images.length * INPUT_SIZE);
  const inRange = pixelsInto(images, pixelScale, x);
  const ink = new Float32Array(images.length * INPUT_SIZE);
  const extents = inkMapsInto(x, images.length, ink, inRange);
  const blank = extents.map((extent) => isBlankExtent(extent, IMAGE_SIDE, IMAGE_SIDE));
  if (body.preprocess === true) checkInked(extents, blank);
  return {
    kind: 'json',
    x,
    count: images.length,
    single: body.image !== undefined,
    pixelScale,
    inferred: body.pixelScale === undefined,
    blank,
    ink,
    extents,
    minConfidence: body.minConfidence ?? null,
    preprocess: body.preprocess,
  };
}

/**
 * The network's input for `metadata`'s model: the images prepared as its recipe prepared them (`preparationOf`)
 * when the body asked for preprocessing or left it to the model's default; a model trained on images as they
 * are gets plain MNIST-style preparation when asked for.
 */
export function jsonModelInput(input: JsonInput, metadata: Record<string, unknown>): Float32Array {
  const preparation = preparationFor(metadata, input.preprocess);
  if (!preparation) return input.x;
  return preprocessBatch(input.x.slice(), input.count, input.blank, input.ink, preparation, input.extents);
}
