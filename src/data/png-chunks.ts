/**
 * @module
 * The chunk walk of a PNG: signature, framing, CRCs, IHDR, PLTE/tRNS rules, chunk order, and the size limits,
 * all checked before a byte is inflated. Pure (typed arrays only). Not the pixel decode (see `png.ts`).
 */
import { crc32 } from '../format/crc32.ts';

/** Why a PNG was refused; the worker maps each code to a 4xx (`PNG_ERRORS` in `src/worker/predict.ts`). */
export type PngErrorCode =
  /** Not a PNG at all (no signature). */
  | 'NOT_PNG'
  /** A chunk or the file ends before its declared length, or there is no IEND. */
  | 'TRUNCATED'
  /** A chunk's CRC does not match its bytes. */
  | 'BAD_CRC'
  /** A malformed chunk header (type bytes, length), a chunk out of order or repeated, an IEND with data. */
  | 'BAD_CHUNK'
  /** A malformed IHDR: size 0, colour type / bit depth combination, compression, filter, interlace method. */
  | 'BAD_HEADER'
  /** PLTE or tRNS contradicting the header: missing, too long, wrong length, an index past the palette. */
  | 'BAD_PALETTE'
  /**
   * The image data is missing, corrupt (its zlib header, its Adler-32, bytes after its stream), or inflates to
   * another size than the header implies.
   */
  | 'BAD_DATA'
  /** Past the side, pixel or inflated-byte limit. */
  | 'TOO_LARGE'
  /** Valid PNG this decoder does not handle: an unknown critical chunk, interlaced below 8 bits per sample. */
  | 'UNSUPPORTED';

/** One refusal: a code for programs, a message for people, and where in the file it was found. */
export class PngError extends Error {
  constructor(
    readonly code: PngErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'PngError';
  }
}

/** Bounds on what a PNG may cost; every one is checked from the header before any inflating. */
export interface PngLimits {
  /** Largest width or height. */
  maxSide: number;
  /** Most pixels (width × height). */
  maxPixels: number;
  /** Most bytes the image data may inflate to (scanlines with their filter bytes, all interlace passes). */
  maxInflatedBytes: number;
  /** Most chunks before IEND (each costs a CRC and a look; real encoders write tens to a few hundred). */
  maxChunks: number;
}

/**
 * The worker's limits, chosen by measurement (`npm run bench:uploads -- --worker`, docs/reliability.md): the most
 * expensive image they admit costs well under 50 ms of workerd CPU, decode and preprocessing included (2^20
 * inflated bytes cost up to ~56 ms there, twice Node's figure). Inflating and unfiltering are the dominant costs,
 * so inflated bytes are the tight limit: 2^19 admits 8-bit grey up to the 2^18 pixels (512×512, 724×362), RGB
 * up to ~418×417, RGBA up to ~362×361, 16-bit RGBA up to ~256×255: far more than a digit needs.
 */
export const DEFAULT_PNG_LIMITS: PngLimits = {
  maxSide: 4096,
  maxPixels: 2 ** 18,
  maxInflatedBytes: 2 ** 19,
  maxChunks: 4096,
};

/** Samples per pixel by colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA) and the depths each allows. */
const COLOR_TYPES: Record<number, { channels: number; depths: readonly number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};

/** Adam7 passes: first column, first row, column step, row step. */
export const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Largest chunk length the PNG spec allows (2^31 - 1). */
const MAX_CHUNK_LENGTH = 0x7fffffff;

export interface PngHeader {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  /** Samples per pixel (1-4; palette images have 1, the index). */
  channels: number;
  interlaced: boolean;
  /** Bytes the image data must inflate to, exactly. */
  inflatedBytes: number;
}

/** What the walk found: the header, the palette (with tRNS alpha folded in) and the image data, uninflated. */
export interface PngLayout {
  header: PngHeader;
  /** Palette entries, RGB or RGBA (RGBA when a tRNS chunk is present); only for colour type 3. */
  palette?: number[][];
  /** The IDAT payloads in order; together one zlib stream. */
  idat: Uint8Array[];
  /** Chunk types skipped without being read (ancillary chunks, compressed ones never inflated; APNG frames). */
  skipped: string[];
}

/** Big-endian uint32 at `offset`. */
function u32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0
  );
}

/** Bytes of scanline data (filter byte + packed samples per row) of a w×h image, all interlace passes. */
function inflatedSize(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) => (w <= 0 || h <= 0 ? 0 : h * (1 + Math.ceil((w * bitsPerPixel) / 8)));
  if (!interlaced) return rows(width, height);
  return ADAM7.reduce(
    (sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)),
    0,
  );
}

/**
 * Reads and bounds IHDR (its 13 bytes of data at `data`).
 * @throws {PngError} `BAD_HEADER`, `TOO_LARGE`, `UNSUPPORTED` (interlaced below 8 bits per sample).
 */
export function readHeader(data: Uint8Array, limits: PngLimits): PngHeader {
  const width = u32(data, 0);
  const height = u32(data, 4);
  const [depth, colorType, compression, filter, interlace] = data.subarray(8, 13);
  const type = COLOR_TYPES[colorType];
  if (!type) throw new PngError('BAD_HEADER', `colour type ${colorType} is not one of 0, 2, 3, 4, 6`);
  if (!type.depths.includes(depth)) {
    throw new PngError('BAD_HEADER', `bit depth ${depth} is not allowed with colour type ${colorType}`, {
      depth,
      colorType,
    });
  }
  if (compression !== 0 || filter !== 0 || interlace > 1) {
    throw new PngError(
      'BAD_HEADER',
      `compression ${compression}, filter ${filter}, interlace ${interlace}: only 0, 0 and 0 or 1 exist`,
    );
  }
  if (width === 0 || height === 0 || width > MAX_CHUNK_LENGTH || height > MAX_CHUNK_LENGTH) {
    throw new PngError('BAD_HEADER', `size ${width}×${height} is not a valid PNG size`, { width, height });
  }
  const interlaced = interlace === 1;
  const inflatedBytes = inflatedSize(width, height, type.channels * depth, interlaced);
  if (
    width > limits.maxSide ||
    height > limits.maxSide ||
    width * height > limits.maxPixels ||
    inflatedBytes > limits.maxInflatedBytes
  ) {
    throw new PngError(
      'TOO_LARGE',
      `a ${width}×${height} image of ${type.channels * depth} bits per pixel is too large: at most ` +
        `${limits.maxSide} pixels a side, ${limits.maxPixels} pixels and ${limits.maxInflatedBytes} bytes of ` +
        `image data (this one has ${inflatedBytes})`,
      { width, height, inflatedBytes, ...limits },
    );
  }
  // The Adam7 assembly (`png-unfilter.ts`) moves whole bytes per pixel: packed samples are refused, not misread.
  if (interlaced && depth < 8) {
    throw new PngError('UNSUPPORTED', `interlaced PNGs below 8 bits per sample are not supported`, { depth });
  }
  return { width, height, depth, colorType, channels: type.channels, interlaced, inflatedBytes };
}

/** PLTE entries, checked against the header. */
function readPalette(data: Uint8Array, header: PngHeader): number[][] {
  const entries = data.length / 3;
  if (!Number.isInteger(entries) || entries < 1 || entries > 256) {
    throw new PngError('BAD_PALETTE', `PLTE of ${data.length} bytes is not 1-256 RGB entries`);
  }
  if (header.colorType === 0 || header.colorType === 4) {
    throw new PngError(
      'BAD_PALETTE',
      `PLTE is not allowed in a grey image (colour type ${header.colorType})`,
    );
  }
  if (header.colorType === 3 && entries > 2 ** header.depth) {
    throw new PngError(
      'BAD_PALETTE',
      `PLTE has ${entries} entries; a ${header.depth}-bit index reaches ${2 ** header.depth}`,
    );
  }
  const palette: number[][] = [];
  for (let i = 0; i < data.length; i += 3) palette.push([data[i], data[i + 1], data[i + 2]]);
  return palette;
}

/** Checks tRNS against the header; folds palette alpha into the palette (every entry becomes RGBA). */
function applyTransparency(data: Uint8Array, header: PngHeader, palette: number[][] | undefined): void {
  const { colorType } = header;
  const expected = colorType === 0 ? 2 : colorType === 2 ? 6 : undefined;
  if (colorType === 4 || colorType === 6) {
    throw new PngError('BAD_PALETTE', `tRNS is not allowed with an alpha channel (colour type ${colorType})`);
  }
  if (expected !== undefined) {
    // Grey and RGB keep their channels as before: the transparent colour is validated, then not applied.
    if (data.length !== expected) {
      throw new PngError(
        'BAD_PALETTE',
        `tRNS of ${data.length} bytes; colour type ${colorType} needs ${expected}`,
      );
    }
    return;
  }
  if (!palette) throw new PngError('BAD_CHUNK', 'tRNS before PLTE');
  if (data.length > palette.length) {
    throw new PngError(
      'BAD_PALETTE',
      `tRNS has ${data.length} alpha values for a palette of ${palette.length} entries`,
    );
  }
  palette.forEach((entry, i) => entry.push(i < data.length ? data[i] : 255));
}

/** Chunks read for the image; every other critical chunk is refused, every other ancillary one skipped unread. */
const KNOWN = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND', 'tRNS']);

/**
 * Walks every chunk up to IEND without inflating anything: framing, CRC, order, header limits, palette rules.
 * Compressed ancillary chunks (iCCP, zTXt, iTXt) and APNG frames (acTL, fcTL, fdAT) are skipped unread: only
 * IDAT is ever inflated, and only to the size IHDR implies.
 * @throws {PngError} with the code of the first rule broken.
 */
export function readPngLayout(bytes: Uint8Array, limits: PngLimits = DEFAULT_PNG_LIMITS): PngLayout {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new PngError('NOT_PNG', 'the image is not a PNG (only PNG is accepted)', { bytes: bytes.length });
  }
  let header: PngHeader | undefined;
  let palette: number[][] | undefined;
  let transparencySeen = false;
  const idat: Uint8Array[] = [];
  const skipped: string[] = [];
  /** 0 before IDAT, 1 inside the IDAT run, 2 after it. */
  let idatState = 0;
  for (let offset = 8, count = 0; ; count++) {
    if (count === limits.maxChunks) {
      throw new PngError('TOO_LARGE', `more than ${limits.maxChunks} chunks before IEND`, {
        offset,
        ...limits,
      });
    }
    if (offset + 12 > bytes.length) {
      throw new PngError('TRUNCATED', `the file ends at byte ${bytes.length} before IEND`, { offset });
    }
    const length = u32(bytes, offset);
    const typeBytes = bytes.subarray(offset + 4, offset + 8);
    const type = String.fromCharCode(...typeBytes);
    if (!typeBytes.every((b) => (b >= 65 && b <= 90) || (b >= 97 && b <= 122))) {
      throw new PngError('BAD_CHUNK', `chunk type at byte ${offset + 4} is not four letters`, { offset });
    }
    if (length > MAX_CHUNK_LENGTH || offset + 12 + length > bytes.length) {
      throw new PngError(
        'TRUNCATED',
        `chunk ${type} at byte ${offset} declares ${length} bytes; the file ends at ${bytes.length}`,
        { offset, type, length },
      );
    }
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== u32(bytes, offset + 8 + length)) {
      throw new PngError('BAD_CRC', `chunk ${type} at byte ${offset} fails its CRC`, { offset, type });
    }
    if ((header === undefined) !== (type === 'IHDR')) {
      throw new PngError('BAD_CHUNK', header ? 'a second IHDR' : `the first chunk is ${type}, not IHDR`, {
        offset,
        type,
      });
    }
    if (idatState === 1 && type !== 'IDAT') idatState = 2;
    if (idatState > 0 && (type === 'PLTE' || type === 'tRNS')) {
      throw new PngError('BAD_CHUNK', `${type} after the image data`, { offset, type });
    }
    const critical = typeBytes[0] <= 90;
    if (!KNOWN.has(type)) {
      if (critical) {
        throw new PngError('UNSUPPORTED', `unknown critical chunk ${type} at byte ${offset}`, {
          offset,
          type,
        });
      }
      if (skipped.length < 16) skipped.push(type);
    } else if (type === 'IHDR') {
      if (length !== 13) throw new PngError('BAD_HEADER', `IHDR has ${length} bytes, not 13`);
      header = readHeader(data, limits);
    } else if (type === 'PLTE') {
      if (palette) throw new PngError('BAD_CHUNK', 'a second PLTE', { offset });
      palette = readPalette(data, header!);
    } else if (type === 'tRNS') {
      if (transparencySeen) throw new PngError('BAD_CHUNK', 'a second tRNS', { offset });
      transparencySeen = true;
      applyTransparency(data, header!, header!.colorType === 3 ? palette : undefined);
    } else if (type === 'IDAT') {
      if (idatState === 2) throw new PngError('BAD_CHUNK', 'IDAT chunks are not consecutive', { offset });
      if (header!.colorType === 3 && !palette) {
        throw new PngError('BAD_PALETTE', 'a palette image without PLTE before its data');
      }
      idatState = 1;
      if (length > 0) idat.push(data);
    } else {
      // IEND; anything after it is not part of the image and is not read.
      if (length !== 0) {
        throw new PngError('BAD_CHUNK', `IEND at byte ${offset} carries ${length} bytes; it must be empty`, {
          offset,
          length,
        });
      }
      if (idatState === 0) throw new PngError('BAD_DATA', 'no image data (IDAT) before IEND');
      return {
        header: header!,
        ...(header!.colorType === 3 ? { palette } : {}),
        idat,
        skipped,
      };
    }
    offset += 12 + length;
  }
}
