/**
 * @module
 * `/predict`'s one path: a validated JSON body or an upload becomes the network's input ([n×784] in [0, 1]), the
 * serving model predicts it inside `withServingModel`, and the answer is shaped for what was sent. Not body
 * reading (`body.ts`) and not PNG decoding (`png.ts`).
 */
import type { z } from '@hono/zod-openapi';
import {
  fromPixels,
  preprocess,
  PreprocessError,
  preprocessInk,
  resizeOnly,
  SIDE,
  toGray,
  toInk,
  type RasterImage,
} from '../data/preprocess.ts';
import { IMAGE_SIDE, INPUT_SIZE } from '../nn/classify.ts';
import type { Upload } from './body.ts';
import type { Config } from './config.ts';
import { ApiError } from './errors.ts';
import { isBlankInk } from '../data/verdict.ts';
import { trainedOnPrepared } from '../format/index.ts';
import { temperatureOf, toVerdictPredictions } from './verdicts.ts';
import { withServingModel } from './model-cache.ts';
import { withVersionPredictor } from './pinned.ts';
import type { ModelStore } from './model-store.ts';
import { decodePngInSteps, PngError, type PngErrorCode } from '../data/png.ts';
import { inUploadTurn, pause } from './upload-turns.ts';
import {
  flatImage,
  inferPixelScale,
  type Image,
  type PixelScaleValue,
  type PredictRequest,
} from './schemas.ts';

type Images = z.infer<typeof Image>[];

/** What goes through the network, and what the answer must say about it. */
export type PredictInput =
  | {
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
      minConfidence: number | null;
      /** `preprocess` was left out: prepare the images when the answering model was trained on prepared ones. */
      preprocessByModel: boolean;
    }
  | {
      kind: 'image';
      x: Float32Array;
      count: 1;
      preprocessed: boolean;
      preview: boolean;
      width: number;
      height: number;
      blank: boolean[];
      minConfidence: number | null;
    };

/** Packs images into the network's input, [n×784] in [0,1]. */
export function toInput(images: Images, scale: PixelScaleValue): Float32Array {
  const divisor = scale === '0-255' ? 255 : 1;
  const x = new Float32Array(images.length * INPUT_SIZE);
  images.forEach((image, i) => {
    const flat = flatImage(image);
    for (let j = 0; j < INPUT_SIZE; j++) x[i * INPUT_SIZE + j] = flat[j] / divisor;
  });
  return x;
}

/** The ink maps of [count×784] images (`toInk`, as `preprocess` and the blank test read them). */
export function inkMaps(x: Float32Array, count: number): Float32Array {
  const ink = new Float32Array(count * INPUT_SIZE);
  for (let i = 0; i < count; i++) {
    const image = fromPixels(x.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE));
    ink.set(toInk(toGray(image), IMAGE_SIDE, IMAGE_SIDE), i * INPUT_SIZE);
  }
  return ink;
}

/** Per image of the ink maps [count×784]: whether it has no ink to read a digit from (see `isBlank`). */
export function blankImages(ink: Float32Array, count: number): boolean[] {
  return Array.from({ length: count }, (_, i) =>
    isBlankInk(ink.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE), IMAGE_SIDE, IMAGE_SIDE),
  );
}

/**
 * Preprocesses a batch of 28×28 images in place, [count×784] in [0, 1]: the JSON API's `preprocess: true`.
 * Images marked in `skip` (blank ones) are left as they are.
 * @throws {ApiError} 422 `empty_image` naming the first image without ink that was not skipped.
 */
export function preprocessBatch(
  x: Float32Array,
  count: number,
  skip: boolean[] = [],
  ink?: Float32Array,
): Float32Array {
  for (let i = 0; i < count; i++) {
    if (skip[i]) continue;
    const image = x.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE);
    try {
      // The ink maps, when given, are these images' own (`inkMaps`): the same result without making them again.
      image.set(
        ink
          ? preprocessInk(ink.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE), IMAGE_SIDE, IMAGE_SIDE)
          : preprocess(fromPixels(image)),
      );
    } catch (err) {
      if (err instanceof PreprocessError && err.code === 'EMPTY_IMAGE') {
        throw new ApiError(422, 'empty_image', `image ${i} is empty: nothing to read a digit from`, {
          index: i,
        });
      }
      throw err;
    }
  }
  return x;
}

/**
 * The input of a validated JSON body; the pixel scale is the declared one, else inferred from the pixels.
 * @throws {ApiError} 400 `limit_exceeded` past the deployment's batch size, 422 `empty_image` when preprocessing.
 */
export function jsonInput(body: z.infer<typeof PredictRequest>, cfg: Config): PredictInput {
  const images = body.image ? [body.image] : body.images!;
  if (images.length > cfg.predictMaxBatch) {
    throw new ApiError(400, 'limit_exceeded', `at most ${cfg.predictMaxBatch} images per request`, {
      max: cfg.predictMaxBatch,
      got: images.length,
    });
  }
  const pixelScale = body.pixelScale ?? inferPixelScale(images);
  const x = toInput(images, pixelScale);
  const ink = inkMaps(x, images.length);
  const blank = blankImages(ink, images.length);
  if (body.preprocess === true) preprocessBatch(x, images.length, blank, ink);
  return {
    kind: 'json',
    x,
    count: images.length,
    single: body.image !== undefined,
    pixelScale,
    inferred: body.pixelScale === undefined,
    blank,
    ink,
    minConfidence: body.minConfidence ?? null,
    preprocessByModel: body.preprocess === undefined,
  };
}

/** The network's input for `metadata`'s model: JSON images left to the model's default are prepared here. */
function inputFor(input: PredictInput, metadata: Record<string, unknown>): Float32Array {
  if (input.kind !== 'json' || !input.preprocessByModel || !trainedOnPrepared(metadata)) return input.x;
  return preprocessBatch(input.x.slice(), input.count, input.blank, input.ink);
}

/** The answer to each refusal of the PNG decoder (the hostile corpus, `scripts/lib/hostile-corpus.ts`, agrees). */
const PNG_ERRORS: Record<PngErrorCode, readonly [400 | 413 | 415, string]> = {
  NOT_PNG: [415, 'unsupported_image'],
  UNSUPPORTED: [415, 'unsupported_image'],
  TOO_LARGE: [413, 'image_too_large'],
  TRUNCATED: [400, 'bad_image'],
  BAD_CRC: [400, 'bad_image'],
  BAD_CHUNK: [400, 'bad_image'],
  BAD_HEADER: [400, 'bad_image'],
  BAD_PALETTE: [400, 'bad_image'],
  BAD_DATA: [400, 'bad_image'],
};

/**
 * Decodes an uploaded PNG into a raster, pausing between its steps (`upload-turns.ts`).
 * @throws {ApiError} 415 `unsupported_image`, 413 `image_too_large`, 400 `bad_image`.
 */
export async function decodeImage(png: Uint8Array): Promise<RasterImage> {
  try {
    return await decodePngInSteps(png, pause);
  } catch (err) {
    if (!(err instanceof PngError)) throw err;
    const [status, code] = PNG_ERRORS[err.code];
    throw new ApiError(status, code, err.message, { reason: err.code, ...err.details });
  }
}

/**
 * The network's input for one image: MNIST-style preprocessing, or a plain resize to 28×28 when turned off.
 * @throws {ApiError} 422 `empty_image` when preprocessing finds no ink.
 */
export function toModelInput(image: RasterImage, prepare: boolean, ink?: Float32Array): Float32Array {
  try {
    if (!prepare) return resizeOnly(image);
    // The picture's ink map, when the caller made it already (`inkOf`), is not made again.
    return ink ? preprocessInk(ink, image.width, image.height) : preprocess(image);
  } catch (err) {
    if (err instanceof PreprocessError && err.code === 'EMPTY_IMAGE') {
      throw new ApiError(422, 'empty_image', 'the image is empty: draw or upload a digit', null);
    }
    if (err instanceof PreprocessError) throw new ApiError(400, 'bad_image', err.message);
    throw err;
  }
}

/**
 * The picture's ink map (`toInk(toGray(image))`), as the blank test and `preprocess` read it.
 * @throws {ApiError} 400 `bad_image` on an inconsistent picture.
 */
function inkOf(image: RasterImage): Float32Array {
  try {
    return toInk(toGray(image), image.width, image.height);
  } catch (err) {
    if (err instanceof PreprocessError) throw new ApiError(400, 'bad_image', err.message);
    throw err;
  }
}

/**
 * The input of an upload: decoded, then prepared, in the isolate's upload turn and with pauses between the steps.
 * @throws {ApiError} as `decodeImage` and `toModelInput`; 503 `busy` when too many uploads wait.
 */
export function imageInput(upload: Upload): Promise<PredictInput> {
  return inUploadTurn(() => prepareUpload(upload));
}

async function prepareUpload(upload: Upload): Promise<PredictInput> {
  const image = await decodeImage(upload.png);
  await pause();
  // Blank input is named blank, not refused: the network sees zeros and its answer is not used. One ink map
  // serves the blank test and the preparation.
  const ink = inkOf(image);
  const blank = isBlankInk(ink, image.width, image.height);
  await pause();
  return {
    kind: 'image',
    x: blank ? new Float32Array(SIDE * SIDE) : toModelInput(image, upload.preprocess, ink),
    count: 1,
    preprocessed: upload.preprocess,
    preview: upload.preview,
    width: image.width,
    height: image.height,
    blank: [blank],
    minConfidence: upload.minConfidence,
  };
}

export interface PredictAnswer {
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

/**
 * Runs the input through the serving model and shapes the answer: inline for one JSON `image` or an upload,
 * `predictions` in order for a batch. `X-Model-Version` names the version; `X-Model-Stale` is set while an
 * older version answers.
 * @throws {ApiError} 503 when no model can be served.
 */
export async function predict(
  store: ModelStore,
  cfg: Config,
  input: PredictInput,
  /** Answer from this stored version instead of the current one (`?version=`). */
  pinned?: string,
): Promise<PredictAnswer> {
  const verdicts = (probs: Float32Array, metadata: Parameters<typeof temperatureOf>[0]) =>
    toVerdictPredictions(probs, input.count, {
      temperature: temperatureOf(metadata),
      minConfidence: input.minConfidence ?? cfg.minConfidence,
      blank: input.blank,
    });
  const { version, stale, predictions } =
    pinned === undefined
      ? await withServingModel(store, cfg.revalidateMs, (serving, stale) => ({
          version: serving.version,
          stale,
          predictions: verdicts(
            serving.predictor.predict(inputFor(input, serving.model.metadata), input.count),
            serving.model.metadata,
          ),
        }))
      : await withVersionPredictor(store, pinned, (predictor, loaded) => ({
          version: loaded.version,
          stale: null,
          predictions: verdicts(
            predictor.predict(inputFor(input, loaded.model.metadata), input.count),
            loaded.model.metadata,
          ),
        }));
  const headers: Record<string, string> = { 'X-Model-Version': version };
  if (stale) headers['X-Model-Stale'] = stale.code;
  if (input.kind === 'image') {
    const body = {
      ...predictions[0],
      modelVersion: version,
      preprocessed: input.preprocessed,
      source: { width: input.width, height: input.height },
      ...(input.preview ? { input: Array.from(input.x, (v) => Math.round(v * 255)), side: SIDE } : {}),
    };
    return { body, headers };
  }
  const scale = { pixelScale: input.pixelScale, pixelScaleInferred: input.inferred };
  if (input.single) return { body: { ...predictions[0], modelVersion: version, ...scale }, headers };
  return { body: { modelVersion: version, ...scale, predictions }, headers };
}
