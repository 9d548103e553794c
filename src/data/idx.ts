/**
 * @module
 * The IDX file format (MNIST and its look-alikes): bytes in, validated typed arrays out, plus a writer for tests.
 * Pure: no file system and no gzip; callers read and inflate the bytes (see `scripts/lib/dataset.ts`).
 *
 * Layout, big-endian: two zero bytes, a dtype byte (0x08 = unsigned byte, the only one accepted here), a byte with
 * the number of dimensions, one uint32 per dimension, then the data in row-major order with nothing after it.
 * Images are 3-dimensional (count × rows × cols, magic 0x00000803), labels 1-dimensional (magic 0x00000801).
 */

/** Dtype byte of unsigned 8-bit data, the only one MNIST-style files use. */
export const IDX_UBYTE = 0x08;
/** Largest image side accepted; MNIST is 28, anything far larger is a corrupt header, not a dataset. */
export const IDX_MAX_SIDE = 4096;

export type IdxErrorCode =
  | 'TOO_SHORT'
  | 'BAD_MAGIC'
  | 'BAD_DTYPE'
  | 'BAD_NDIM'
  | 'BAD_DIMS'
  | 'TRUNCATED'
  | 'TRAILING_BYTES'
  | 'BAD_LABEL'
  | 'COUNT_MISMATCH';

/** Any problem with IDX bytes; `code` names it, `offset` is the byte where it was found. */
export class IdxFormatError extends Error {
  readonly code: IdxErrorCode;
  readonly offset: number;

  constructor(code: IdxErrorCode, offset: number, message: string) {
    super(message);
    this.name = 'IdxFormatError';
    this.code = code;
    this.offset = offset;
  }
}

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** [count×rows×cols] grey levels 0-255, a view into the input bytes. */
  pixels: Uint8Array;
}

export interface IdxLabels {
  count: number;
  /** [count] classes, each below `classes`; a view into the input bytes. */
  labels: Uint8Array;
}

/**
 * Reads the header and returns the dimensions and where the data starts, after checking that the data fills
 * the rest of the bytes exactly.
 */
function parseHeader(bytes: Uint8Array, ndim: number, what: string): { dims: number[]; dataOffset: number } {
  const headerLength = 4 + 4 * ndim;
  if (bytes.length < 4) {
    throw new IdxFormatError(
      'TOO_SHORT',
      bytes.length,
      `file is ${bytes.length} bytes, too short for an IDX header`,
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    throw new IdxFormatError(
      'BAD_MAGIC',
      0,
      `bad magic 0x${magic.toString(16).padStart(8, '0')}: not an IDX file (expected 0x000008${ndim.toString(16).padStart(2, '0')} for ${what})`,
    );
  }
  if (bytes[2] !== IDX_UBYTE) {
    throw new IdxFormatError(
      'BAD_DTYPE',
      2,
      `dtype 0x${bytes[2].toString(16).padStart(2, '0')} is not unsigned byte (0x08) as ${what} need`,
    );
  }
  if (bytes[3] !== ndim) {
    throw new IdxFormatError('BAD_NDIM', 3, `${bytes[3]} dimensions, ${what} need ${ndim}`);
  }
  if (bytes.length < headerLength) {
    throw new IdxFormatError(
      'TRUNCATED',
      bytes.length,
      `header truncated: ${bytes.length} bytes, the header of ${what} is ${headerLength}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let d = 0; d < ndim; d++) {
    const dim = view.getUint32(4 + 4 * d, false);
    dims.push(dim);
    // Each factor is below 2^32 and the product is compared to the length long before it could lose precision.
    size *= dim;
  }
  const dataLength = bytes.length - headerLength;
  if (size > dataLength) {
    throw new IdxFormatError(
      'TRUNCATED',
      bytes.length,
      `truncated: header declares ${dims.join('×')} = ${size} bytes of data, file has ${dataLength}`,
    );
  }
  if (size < dataLength) {
    throw new IdxFormatError(
      'TRAILING_BYTES',
      headerLength + size,
      `${dataLength - size} trailing byte(s) after the ${dims.join('×')} data at byte ${headerLength + size}`,
    );
  }
  return { dims, dataOffset: headerLength };
}

/**
 * Parses an IDX image file (magic 0x00000803).
 * @throws {IdxFormatError} on a bad magic, dtype or dimension count, zero or huge sides, truncated or trailing data.
 */
export function parseIdxImages(bytes: Uint8Array): IdxImages {
  const { dims, dataOffset } = parseHeader(bytes, 3, 'images');
  const [count, rows, cols] = dims;
  if (rows === 0 || cols === 0 || rows > IDX_MAX_SIDE || cols > IDX_MAX_SIDE) {
    throw new IdxFormatError(
      'BAD_DIMS',
      8,
      `image size ${rows}×${cols} is not between 1 and ${IDX_MAX_SIDE}`,
    );
  }
  return { count, rows, cols, pixels: bytes.subarray(dataOffset) };
}

/**
 * Parses an IDX label file (magic 0x00000801); every label must be below `classes`.
 * @throws {IdxFormatError} on a bad header, truncated or trailing data, or a label out of range.
 */
export function parseIdxLabels(bytes: Uint8Array, classes = 10): IdxLabels {
  const { dims, dataOffset } = parseHeader(bytes, 1, 'labels');
  const labels = bytes.subarray(dataOffset);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) {
      throw new IdxFormatError(
        'BAD_LABEL',
        dataOffset + i,
        `label ${labels[i]} of example ${i} (byte ${dataOffset + i}) is not below ${classes}`,
      );
    }
  }
  return { count: dims[0], labels };
}

/**
 * Checks that an image file and a label file describe the same examples.
 * @throws {IdxFormatError} with code `COUNT_MISMATCH` when the counts differ.
 */
export function checkSameCount(images: IdxImages, labels: IdxLabels): void {
  if (images.count !== labels.count) {
    throw new IdxFormatError('COUNT_MISMATCH', 4, `${images.count} images but ${labels.count} labels`);
  }
}

/** Writes IDX bytes of unsigned-byte data with the given dimensions (the inverse of the parsers). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const headerLength = 4 + 4 * dims.length;
  const out = new Uint8Array(headerLength + data.length);
  const view = new DataView(out.buffer);
  out[2] = IDX_UBYTE;
  out[3] = dims.length;
  dims.forEach((dim, d) => view.setUint32(4 + 4 * d, dim, false));
  out.set(data, headerLength);
  return out;
}
