/**
 * @module
 * `/predict`'s one path: a validated JSON body or an upload becomes the network's input ([n×784] in [0, 1]), the
 * serving model predicts it inside `withServingModel`, and the answer is shaped for what was sent. Not body
 * reading (`body.ts`) and not PNG decoding (`png.ts`).
 */
import {
  preprocess,
  PreprocessError,
  preprocessInkBoth,
  resizeOnly,
  SIDE,
  toGray,
  toInk,
  type Preparation,
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
import { preparationOf, type ModelData, type PreparedAs } from '../format/index.ts';
import type { Predictor } from '../nn/index.ts';

export { jsonInput, preprocessBatch, toInput } from './json-input.ts';

/** What goes through the network, and what the answer must say about it. */
export type PredictInput =
  | JsonInput
  | {
      kind: 'image';
      /** Prepared plainly (MNIST-style), or resized only when preprocessing was turned off. */
      x: Float32Array;
      /** Prepared with deskewing too, for a model whose recipe deskewed (null without preprocessing). */
      deskewed: Float32Array | null;
      count: 1;
      preprocessed: boolean;
      preview: boolean;
      width: number;
      height: number;
      blank: boolean[];
      minConfidence: number | null;
    };

/**
 * The network's input for `metadata`'s model, its images prepared as its recipe prepared them, and, for an
 * upload (whose preview shows it), how.
 */
function inputFor(
  input: PredictInput,
  metadata: Record<string, unknown>,
): { x: Float32Array; prepared: PreparedAs | null } {
  // A JSON body's images are not shown back, so how they were prepared is not worked out (a hot path).
  if (input.kind === 'json') return { x: jsonModelInput(input, metadata), prepared: null };
  if (input.deskewed && preparationOf(metadata)?.deskew) return { x: input.deskewed, prepared: 'deskew' };
  return { x: input.x, prepared: input.preprocessed ? 'plain' : 'none' };
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
 * The network's input for one image: MNIST-style preprocessing as `preparation` says, or a plain resize to
 * 28×28 when turned off.
 * @throws {ApiError} 422 `empty_image` when preprocessing finds no ink.
 */
export function toModelInput(
  image: RasterImage,
  prepare: boolean,
  preparation: Preparation = {},
): Float32Array {
  return asModelInput(() => (prepare ? preprocess(image, preparation) : resizeOnly(image)));
}

/** `run`'s preparation, its `PreprocessError`s as the API answers them (422 `empty_image`, 400 `bad_image`). */
function asModelInput<T>(run: () => T): T {
  try {
    return run();
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
  // Both preparations from the one ink map: the answering model (not known yet) takes the one it was trained on.
  const prepared =
    blank || !upload.preprocess
      ? null
      : asModelInput(() => preprocessInkBoth(ink, image.width, image.height));
  return {
    kind: 'image',
    x: blank ? new Float32Array(SIDE * SIDE) : (prepared?.plain ?? toModelInput(image, false)),
    deskewed: prepared?.deskewed ?? null,
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
  /** What the answering model saw (an upload's preview shows it). */
  let seen = input.x;
  let seenAs: PreparedAs | null = null;
  const run = (predictor: Predictor, metadata: ModelData['metadata']) => {
    ({ x: seen, prepared: seenAs } = inputFor(input, metadata));
    return toVerdictPredictions(predictor.predict(seen, input.count), input.count, {
      temperature: temperatureOf(metadata),
      minConfidence: input.minConfidence ?? cfg.minConfidence,
      blank: input.blank,
    });
  };
  const { version, stale, predictions } =
    pinned === undefined
      ? await withServingModel(store, cfg.revalidateMs, (serving, stale) => ({
          version: serving.version,
          stale,
          predictions: run(serving.predictor, serving.model.metadata),
        }))
      : await withVersionPredictor(store, pinned, (predictor, loaded) => ({
          version: loaded.version,
          stale: null,
          predictions: run(predictor, loaded.model.metadata),
        }));
  const headers: Record<string, string> = { 'X-Model-Version': version };
  if (stale) headers['X-Model-Stale'] = stale.code;
  if (input.kind === 'image') {
    const body = {
      ...predictions[0],
      modelVersion: version,
      preprocessed: input.preprocessed,
      source: { width: input.width, height: input.height },
      ...(input.preview
        ? { input: Array.from(seen, (v) => Math.round(v * 255)), side: SIDE, prepared: seenAs }
        : {}),
    };
    return { body, headers };
  }
  const scale = { pixelScale: input.pixelScale, pixelScaleInferred: input.inferred };
  if (input.single) return { body: { ...predictions[0], modelVersion: version, ...scale }, headers };
  return { body: { modelVersion: version, ...scale, predictions }, headers };
}
