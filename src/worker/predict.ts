/**
 * @module
 * `/predict`'s one path: a validated JSON body or an upload becomes the network's input ([n×784] in [0, 1]), the
 * serving model predicts it inside `withServingModel`, and the answer is shaped for what was sent. Not body
 * reading (`body.ts`) and not PNG decoding (`png.ts`).
 */
import {
  preprocess,
  PreprocessError,
  preprocessInk,
  resizeOnly,
  SIDE,
  toGray,
  toInk,
  type RasterImage,
} from '../data/preprocess.ts';
import type { Upload } from './body.ts';
import type { Config } from './config.ts';
import { ApiError } from './errors.ts';
import { isBlankInk } from '../data/verdict.ts';
import { jsonModelInput, type JsonInput } from './json-input.ts';
import { temperatureOf, toVerdictPredictions } from './verdicts.ts';
import { withServingModel } from './model-cache.ts';
import { withVersionPredictor } from './pinned.ts';
import type { ModelStore } from './model-store.ts';
import { decodePngInSteps, PngError, type PngErrorCode } from '../data/png.ts';
import { inUploadTurn, pause } from './upload-turns.ts';

export { jsonInput, preprocessBatch, toInput } from './json-input.ts';

/** What goes through the network, and what the answer must say about it. */
export type PredictInput =
  | JsonInput
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

/** The network's input for `metadata`'s model (JSON images left to the model's default are prepared for it). */
function inputFor(input: PredictInput, metadata: Record<string, unknown>): Float32Array {
  return input.kind === 'json' ? jsonModelInput(input, metadata) : input.x;
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
