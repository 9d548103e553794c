/**
 * @module
 * PNG decoding for image uploads, pure (bytes in, a `RasterImage` out): the signature and IHDR are read and bounded
 * (side, pixels, the exact size the image data must inflate to, checked by a streaming inflate that stops early)
 * before `fast-png` decodes. One entry point, `decodePng`; errors are `PngError`, mapped to HTTP by the caller.
 */
import { convertIndexedToRgb, decode as decodeWithFastPng, type DecodedPng } from 'fast-png';
import type { RasterImage } from '../data/preprocess.ts';

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

/** Why a PNG was refused: `not_png` (wrong signature), `too_large` (declared size past the caps), `bad` (broken). */
export type PngErrorKind = 'not_png' | 'too_large' | 'bad';

export class PngError extends Error {
  override readonly name = 'PngError';
  constructor(
    readonly kind: PngErrorKind,
    message: string,
    readonly details: Record<string, unknown> | null = null,
  ) {
    super(message);
  }
}

function badPng(message: string, details: Record<string, unknown> | null = null): PngError {
  return new PngError('bad', `broken PNG: ${message}`, details);
}

/** Big-endian uint32 at `offset`. */
function u32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0
  );
}

/**
 * Reads and bounds the PNG header (signature + IHDR) without decoding anything. Exported for its tests; callers
 * use `decodePng`.
 * @throws {PngError} `not_png` when the bytes are not a PNG, `bad` on a malformed IHDR, `too_large` past
 *   `MAX_IMAGE_SIDE` or `MAX_IMAGE_PIXELS`.
 */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new PngError('not_png', 'the image is not a PNG (only PNG is accepted)', { bytes: bytes.length });
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
    throw new PngError(
      'too_large',
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
 * Decodes a PNG after bounding its dimensions and the size its data inflates to: the one entry point.
 * @throws {PngError} `not_png`, `too_large`, or `bad` (framing, corrupt data, wrong inflated size, decoder error).
 */
export async function decodePng(bytes: Uint8Array): Promise<RasterImage> {
  const header = readPngHeader(bytes);
  const inflated = await inflatedLength(imageData(bytes), header.inflatedBytes);
  if (inflated !== header.inflatedBytes) {
    throw badPng(
      `the image data inflates to ${inflated > header.inflatedBytes ? 'more than' : ''} ${inflated} bytes; ` +
        `a ${header.width}×${header.height} image needs ${header.inflatedBytes}`,
      { expected: header.inflatedBytes },
    );
  }
  try {
    // Palette expansion throws too (a short PLTE), so it stays inside.
    return toRaster(decodeWithFastPng(bytes));
  } catch (err) {
    throw badPng(err instanceof Error ? err.message : String(err));
  }
}

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
