/**
 * @module
 * The one error type of the model format: a named code per failure and the byte offset where it was found.
 * Not for I/O or HTTP errors; callers map these to their own.
 */

/** Why a blob was refused (or a model could not be encoded). */
export type ModelFormatErrorCode =
  | 'BAD_MAGIC'
  | 'UNSUPPORTED_VERSION'
  | 'TRUNCATED'
  | 'TRAILING_BYTES'
  | 'BAD_ENCODING'
  | 'BAD_ACTIVATION'
  | 'BAD_SIZES'
  | 'TOO_LARGE'
  | 'CHECKSUM_MISMATCH'
  | 'BAD_PADDING'
  | 'BAD_METADATA'
  | 'NON_FINITE'
  | 'BAD_QUANTIZED'
  | 'BAD_SCALE'
  /** The model given to `encodeModel` is inconsistent (params or quantized arrays of the wrong length). */
  | 'BAD_PARAMS';

export class ModelFormatError extends Error {
  override readonly name = 'ModelFormatError';

  /**
   * @param code what failed
   * @param offset the byte offset in the blob where it failed, or -1 when the error is about a model being
   *   encoded rather than a place in a blob
   */
  constructor(
    readonly code: ModelFormatErrorCode,
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

const LABELS: Record<ModelFormatErrorCode, string> = {
  BAD_MAGIC: 'bad magic',
  UNSUPPORTED_VERSION: 'unsupported version',
  TRUNCATED: 'truncated',
  TRAILING_BYTES: 'trailing bytes',
  BAD_ENCODING: 'bad weight encoding',
  BAD_ACTIVATION: 'bad activation',
  BAD_SIZES: 'bad sizes',
  TOO_LARGE: 'too large',
  CHECKSUM_MISMATCH: 'checksum mismatch',
  BAD_PADDING: 'nonzero padding',
  BAD_METADATA: 'bad metadata',
  NON_FINITE: 'non-finite value',
  BAD_QUANTIZED: 'int8 weight out of range',
  BAD_SCALE: 'bad int8 scale',
  BAD_PARAMS: 'bad params',
};

/** An error whose message reads `checksum mismatch at byte 1234: stored 0x…, computed 0x…`. */
export function formatError(code: ModelFormatErrorCode, offset: number, detail: string): ModelFormatError {
  return new ModelFormatError(
    code,
    offset,
    `${LABELS[code]}${offset >= 0 ? ` at byte ${offset}` : ''}: ${detail}`,
  );
}

/** Lowercase 8-digit hex, as checksums are printed in messages. */
export function hex32(value: number): string {
  return '0x' + (value >>> 0).toString(16).padStart(8, '0');
}
