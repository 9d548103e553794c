/**
 * @module
 * Image uploads for `POST /predict`: a raw `image/png` body or a `multipart/form-data` file field, bounded before
 * decoding, decoded with `fast-png`, prepared by `src/data/preprocess.ts`. Not the JSON pixel API (see `app.ts`).
 */
import { convertIndexedToRgb, decode as decodePng, type DecodedPng } from 'fast-png';
import type { Context, MiddlewareHandler } from 'hono';
import {
  fromPixels,
  preprocess,
  PreprocessError,
  resizeOnly,
  SIDE,
  type RasterImage,
} from '../data/preprocess.ts';
import { readConfig, type Bindings } from './config.ts';
import { ApiError } from './errors.ts';
import { toPredictions } from './fine-tune.ts';
import { getServingModel } from './model-cache.ts';
import { ModelStore } from './model-store.ts';

/** Largest upload accepted, PNG or multipart, in bytes. */
export const MAX_IMAGE_BODY = 2 * 1024 * 1024;
/** Largest side, in pixels, of an accepted PNG. */
export const MAX_IMAGE_SIDE = 4096;
/** Most pixels an accepted PNG may decode to (≈1448²): keeps decoding and preprocessing within a Worker's memory. */
export const MAX_IMAGE_PIXELS = 2 ** 21;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples per pixel by PNG colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA) and the depths each allows. */
const COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};
/** Adam7 passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

export interface PngHeader {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
  /** Bytes the image data must inflate to: scanlines with their filter bytes, all interlace passes. */
  inflatedBytes: number;
}

function badPng(message: string, details: unknown = null): ApiError {
  return new ApiError(400, 'bad_image', `broken PNG: ${message}`, details);
}

/** Big-endian uint32 at `offset`. */
function u32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0
  );
}

/**
 * Reads and bounds the PNG header (signature + IHDR) without decoding anything.
 * @throws {ApiError} 415 `unsupported_image` when the bytes are not a PNG, 400 `bad_image` on a malformed IHDR,
 * 413 `image_too_large` past `MAX_IMAGE_SIDE` or `MAX_IMAGE_PIXELS`.
 */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new ApiError(415, 'unsupported_image', 'the image is not a PNG (only PNG is accepted)', {
      bytes: bytes.length,
    });
  }
  if (
    bytes.length < 33 ||
    u32(bytes, 8) !== 13 ||
    String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR'
  ) {
    throw badPng('the first chunk must be a 13-byte IHDR at byte 8');
  }
  const width = u32(bytes, 16);
  const height = u32(bytes, 20);
  const [depth, colorType, compression, filter, interlace] = bytes.subarray(24, 29);
  const type = COLOR_TYPES[colorType];
  if (!type) throw badPng(`colour type ${colorType} at byte 25 is not one of 0, 2, 3, 4, 6`);
  if (!type.depths.includes(depth))
    throw badPng(`bit depth ${depth} is not allowed with colour type ${colorType}`);
  if (compression !== 0 || filter !== 0 || interlace > 1) {
    throw badPng(
      `compression ${compression}, filter ${filter}, interlace ${interlace} (bytes 26-28) are not valid`,
    );
  }
  if (width === 0 || height === 0) throw badPng(`size ${width}×${height} is empty`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new ApiError(
      413,
      'image_too_large',
      `a ${width}×${height} image is too large: at most ${MAX_IMAGE_SIDE} pixels a side and ${MAX_IMAGE_PIXELS} pixels`,
      { width, height, maxSide: MAX_IMAGE_SIDE, maxPixels: MAX_IMAGE_PIXELS },
    );
  }
  const bitsPerPixel = type.channels * depth;
  const scanlines = (w: number, h: number) =>
    w === 0 || h === 0 ? 0 : h * (1 + Math.ceil((w * bitsPerPixel) / 8));
  const inflatedBytes =
    interlace === 0
      ? scanlines(width, height)
      : ADAM7.reduce(
          (sum, [x0, y0, dx, dy]) =>
            sum + scanlines(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)),
          0,
        );
  return { width, height, depth, colorType, interlace, inflatedBytes };
}

/** The concatenated IDAT payloads, after checking that the chunks are well-framed up to IEND. */
function imageData(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let offset = 8;
  for (;;) {
    if (offset + 12 > bytes.length)
      throw badPng(`truncated: chunk header at byte ${offset} runs past the end`);
    const length = u32(bytes, offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (offset + 12 + length > bytes.length) {
      throw badPng(`truncated: chunk ${type} at byte ${offset} declares ${length} bytes`, { offset });
    }
    if (type === 'IDAT') {
      parts.push(bytes.subarray(offset + 8, offset + 8 + length));
      total += length;
    }
    offset += 12 + length;
    if (type === 'IEND') break;
  }
  if (total === 0) throw badPng('no image data (IDAT)');
  return concatBytes(parts, total);
}

/** Inflates `zlib` as a stream and counts, stopping as soon as the count passes `limit`: a bomb never lands. */
async function inflatedLength(zlib: Uint8Array, limit: number): Promise<number> {
  const reader = new Blob([zlib]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return total;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        return total;
      }
    }
  } catch {
    throw badPng('the compressed image data is corrupt or truncated');
  }
}

/** Unpacks 1/2/4-bit grey rows (each padded to a byte) into one sample per pixel. */
function unpackBits(data: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      out[y * width + x] = (data[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

function toRaster(png: DecodedPng): RasterImage {
  const { width, height, depth } = png;
  if (png.palette) {
    const channels = png.palette[0].length as 3 | 4;
    return { width, height, channels, data: convertIndexedToRgb(png), maxValue: 255 };
  }
  const channels = png.channels as 1 | 2 | 3 | 4;
  if (depth < 8) {
    return {
      width,
      height,
      channels,
      data: unpackBits(png.data as Uint8Array, width, height, depth),
      maxValue: (1 << depth) - 1,
    };
  }
  return { width, height, channels, data: png.data, maxValue: depth === 16 ? 65535 : 255 };
}

/**
 * Decodes a PNG after bounding its dimensions and the size its data inflates to.
 * @throws {ApiError} 415 not a PNG, 413 too large, 400 broken PNG (framing, corrupt data, wrong inflated size).
 */
export async function decodeImage(bytes: Uint8Array): Promise<RasterImage> {
  const header = readPngHeader(bytes);
  const inflated = await inflatedLength(imageData(bytes), header.inflatedBytes);
  if (inflated !== header.inflatedBytes) {
    throw badPng(
      `the image data inflates to ${inflated > header.inflatedBytes ? 'more than' : ''} ${inflated} bytes; ` +
        `a ${header.width}×${header.height} image needs ${header.inflatedBytes}`,
      { expected: header.inflatedBytes },
    );
  }
  let png: DecodedPng;
  try {
    png = decodePng(bytes);
  } catch (err) {
    throw badPng(err instanceof Error ? err.message : String(err));
  }
  return toRaster(png);
}

/** Reads at most `MAX_IMAGE_BODY` bytes of a body; more is a 413 without reading the rest. */
async function readBounded(request: Request): Promise<Uint8Array> {
  const declared = Number(request.headers.get('Content-Length') ?? NaN);
  const tooLarge = () =>
    new ApiError(413, 'body_too_large', `the upload exceeds ${MAX_IMAGE_BODY} bytes`, {
      maxBytes: MAX_IMAGE_BODY,
    });
  if (declared > MAX_IMAGE_BODY) throw tooLarge();
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_IMAGE_BODY) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    parts.push(value);
  }
  return concatBytes(parts, total);
}

/** What an image upload asks for: the picture and whether to prepare it the MNIST way (the default). */
export interface ImageRequest {
  image: RasterImage;
  preprocess: boolean;
  /** Whether to answer with the 28×28 input the model saw (`preview=1`). */
  preview: boolean;
}

const OFF = ['0', 'false', 'no', 'off'];
const ON = ['1', 'true', 'yes', 'on'];

/** Content types answered by `readImageRequest`; anything else is left to the JSON route. */
export function isImageRequest(request: Request): boolean {
  const type = (request.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  return type === 'image/png' || type === 'multipart/form-data';
}

/**
 * Reads an upload: a raw `image/png` body, or the file field (`image`, else the first file) of a
 * `multipart/form-data` form. `preprocess` and `preview` come from the query string or form fields.
 * @throws {ApiError} 413 body too large, 400 no file / bad form, plus everything `decodeImage` throws.
 */
export async function readImageRequest(request: Request): Promise<ImageRequest> {
  const type = (request.headers.get('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  const query = new URL(request.url).searchParams;
  const flag = (value: string | null, fallback: boolean) =>
    value === null
      ? fallback
      : OFF.includes(value.toLowerCase())
        ? false
        : ON.includes(value.toLowerCase()) || fallback;
  const bytes = await readBounded(request);
  let png = bytes;
  let fields = query;
  if (type === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await new Response(bytes, {
        headers: { 'Content-Type': request.headers.get('Content-Type')! },
      }).formData();
    } catch {
      throw new ApiError(400, 'bad_form', 'the multipart/form-data body cannot be parsed');
    }
    const named = form.get('image');
    const file =
      typeof named === 'object' && named ? named : [...form.values()].find((v) => typeof v === 'object');
    if (!file || typeof file === 'string') {
      throw new ApiError(
        400,
        'missing_image',
        'the form has no file field; send the PNG in a field named `image`',
      );
    }
    png = new Uint8Array(await (file as Blob).arrayBuffer());
    fields = new URLSearchParams(query);
    for (const key of ['preprocess', 'preview']) {
      const value = form.get(key);
      if (typeof value === 'string') fields.set(key, value);
    }
  }
  return {
    image: await decodeImage(png),
    preprocess: flag(fields.get('preprocess'), true),
    preview: flag(fields.get('preview'), false),
  };
}

/**
 * The network's input for one image: MNIST-style preprocessing, or a plain resize to 28×28 when turned off.
 * @throws {ApiError} 422 `empty_image` when preprocessing finds no ink.
 */
export function toModelInput(image: RasterImage, prepare: boolean): Float32Array {
  try {
    return prepare ? preprocess(image) : resizeOnly(image);
  } catch (err) {
    if (err instanceof PreprocessError && err.code === 'EMPTY_IMAGE') {
      throw new ApiError(422, 'empty_image', 'the image is empty: draw or upload a digit', null);
    }
    if (err instanceof PreprocessError) throw new ApiError(400, 'bad_image', err.message);
    throw err;
  }
}

/**
 * Preprocesses a batch of 28×28 images in place, [count×784] in [0, 1]: the JSON API's `preprocess: true`.
 * @throws {ApiError} 422 `empty_image` naming the first image without ink.
 */
export function preprocessBatch(x: Float32Array, count: number): Float32Array {
  for (let i = 0; i < count; i++) {
    const image = x.subarray(i * 784, (i + 1) * 784);
    try {
      image.set(preprocess(fromPixels(image)));
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
 * Middleware for `POST /predict` that answers image uploads and passes every other request on (to the JSON
 * route). Mount it before the JSON body check: `app.use('/predict', imagePredict)`.
 * @throws {ApiError} as `readImageRequest` and `toModelInput`, 503 when no model can be served.
 */
export const imagePredict: MiddlewareHandler<{ Bindings: Bindings }> = async (
  c: Context<{ Bindings: Bindings }>,
  next,
) => {
  if (c.req.method !== 'POST' || !isImageRequest(c.req.raw)) return next();
  const input = await readImageRequest(c.req.raw);
  const x = toModelInput(input.image, input.preprocess);
  const cfg = readConfig(c.env);
  const { serving, stale } = await getServingModel(
    new ModelStore(c.env.MODELS, cfg.prefix),
    cfg.revalidateMs,
  );
  const [prediction] = toPredictions(serving.predictor.predict(x, 1), 1);
  const headers: Record<string, string> = { 'X-Model-Version': serving.version };
  if (stale) headers['X-Model-Stale'] = stale.code;
  return c.json(
    {
      ...prediction,
      modelVersion: serving.version,
      preprocessed: input.preprocess,
      source: { width: input.image.width, height: input.image.height },
      ...(input.preview ? { input: Array.from(x, (v) => Math.round(v * 255)), side: SIDE } : {}),
    },
    200,
    headers,
  );
};

/** The byte arrays one after the other; `total` is the sum of their lengths. */
function concatBytes(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
