/**
 * @module
 * The safetensors container (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON header, then
 * one byte buffer holding every tensor, raw and little-endian. Generic tensors in and out; what the tensors of an
 * edge-mlp network are called is `state-dict.ts`. Pure bytes; no file system.
 *
 * Reading is strict, as the reference implementation is: the header length is bounded before anything is
 * allocated, every offset is checked with safe-integer arithmetic, and the tensors must tile the byte buffer
 * exactly (no overlap, no hole, no trailing byte).
 */

/** Why a safetensors file was refused. */
export type SafetensorsErrorCode =
  /** Fewer than the 8 bytes of the header length. */
  | 'HEADER_TRUNCATED'
  /** The header length is above `MAX_HEADER_BYTES`. */
  | 'HEADER_TOO_LARGE'
  /** The header length points past the end of the file. */
  | 'HEADER_BEYOND_FILE'
  /** Not UTF-8, not JSON, not an object, or not starting with `{`. */
  | 'BAD_HEADER'
  /** `__metadata__` is not an object of strings. */
  | 'BAD_METADATA'
  /** A tensor entry lacks `dtype`, `shape` or `data_offsets`, or one of them has the wrong type. */
  | 'BAD_TENSOR_INFO'
  | 'UNKNOWN_DTYPE'
  /** `data_offsets` out of the byte buffer, reversed, or not the length the shape and dtype need. */
  | 'BAD_OFFSETS'
  | 'OVERLAPPING_TENSORS'
  /** Bytes of the buffer no tensor covers (a hole, or trailing bytes). */
  | 'UNCOVERED_BYTES'
  /** Writing: a tensor whose data length does not match its shape and dtype, or a name used twice. */
  | 'BAD_TENSOR'
  // What a network's state dict must hold (`state-dict.ts`):
  | 'MISSING_TENSOR'
  | 'UNEXPECTED_TENSOR'
  | 'WRONG_DTYPE'
  | 'WRONG_SHAPE'
  /** NaN or ±Inf in a weight, bias or scale, or a float64 value beyond float32's range. */
  | 'NON_FINITE'
  /** An int8 weight of -128, or a negative int8 scale. */
  | 'BAD_VALUE'
  /** An `edge_mlp.*` entry of `__metadata__` that cannot be read (alpha, sizes, the blob metadata). */
  | 'BAD_MODEL_METADATA';

export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';

  /** @param tensor the tensor the problem is about, or null for the file as a whole */
  constructor(
    readonly code: SafetensorsErrorCode,
    readonly tensor: string | null,
    message: string,
  ) {
    super(tensor === null ? message : `tensor ${JSON.stringify(tensor)}: ${message}`);
  }
}

/** Bytes per element of every dtype the safetensors spec names. */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;
export type Dtype = keyof typeof DTYPE_BYTES;

/**
 * The largest JSON header read. Ours hold a few tensors and at most 1 MiB of blob metadata (escaped, so up to a
 * few MiB); the reference reader allows 100 MB, far more than a model of this size ever needs.
 */
export const MAX_HEADER_BYTES = 8 << 20;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  /** Raw little-endian elements; a view into the file when read (copy it to keep it past the file's bytes). */
  data: Uint8Array;
}

export interface SafetensorsFile {
  /** In file order (by offset). */
  tensors: Map<string, Tensor>;
  /** `__metadata__`, or null when the file has none. */
  metadata: Record<string, string> | null;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The element count of a shape, or null when it is not a safe integer (checked at every product). */
function elementCount(shape: readonly number[]): number | null {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return null;
  }
  return n;
}

/**
 * Parses a safetensors file. The returned tensors are views into `bytes`.
 * @throws {SafetensorsError} for anything but a well-formed file
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.length < 8) {
    throw new SafetensorsError(
      'HEADER_TRUNCATED',
      null,
      `${bytes.length} byte(s), the 8-byte header length is incomplete`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      'HEADER_TOO_LARGE',
      null,
      `header length ${headerLength} bytes, the limit is ${MAX_HEADER_BYTES}`,
    );
  }
  const n = Number(headerLength);
  if (8 + n > bytes.length) {
    throw new SafetensorsError(
      'HEADER_BEYOND_FILE',
      null,
      `header length ${n} bytes, but the file has only ${bytes.length - 8} after the length`,
    );
  }
  const header = parseHeader(bytes.subarray(8, 8 + n));
  const buffer = bytes.subarray(8 + n);

  let metadata: Record<string, string> | null = null;
  const entries: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(info);
      continue;
    }
    entries.push({ name, ...checkTensorInfo(name, info, buffer.length) });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of entries) {
    if (e.begin < covered) {
      const other = entries.find((o) => o !== e && o.begin < e.end && e.begin < o.end)!;
      throw new SafetensorsError(
        'OVERLAPPING_TENSORS',
        e.name,
        `bytes [${e.begin}, ${e.end}) overlap tensor ${JSON.stringify(other.name)} at [${other.begin}, ${other.end})`,
      );
    }
    if (e.begin > covered) {
      throw new SafetensorsError(
        'UNCOVERED_BYTES',
        e.name,
        `starts at byte ${e.begin} of the data, bytes [${covered}, ${e.begin}) belong to no tensor`,
      );
    }
    covered = e.end;
  }
  if (covered !== buffer.length) {
    throw new SafetensorsError(
      'UNCOVERED_BYTES',
      null,
      `the tensors end at byte ${covered} of the data, but it has ${buffer.length} bytes`,
    );
  }

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: buffer.subarray(e.begin, e.end) });
  }
  return { tensors, metadata };
}

function parseHeader(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = utf8Decoder.decode(bytes);
  } catch {
    throw new SafetensorsError('BAD_HEADER', null, 'the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) {
    throw new SafetensorsError(
      'BAD_HEADER',
      null,
      `the header must start with "{", found ${JSON.stringify(text.slice(0, 8))}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(
      'BAD_HEADER',
      null,
      `the header is not valid JSON (${(err as Error).message})`,
    );
  }
  if (!isObject(value)) throw new SafetensorsError('BAD_HEADER', null, 'the header is not a JSON object');
  return value;
}

function checkMetadata(value: unknown): Record<string, string> {
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new SafetensorsError('BAD_METADATA', null, '__metadata__ must be an object of string values');
  }
  return value as Record<string, string>;
}

function checkTensorInfo(
  name: string,
  info: unknown,
  bufferLength: number,
): { dtype: Dtype; shape: number[]; begin: number; end: number } {
  const bad = (what: string) => new SafetensorsError('BAD_TENSOR_INFO', name, what);
  if (!isObject(info)) throw bad('its entry is not an object with dtype, shape and data_offsets');
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string') throw bad('dtype is missing or not a string');
  if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
    throw new SafetensorsError(
      'UNKNOWN_DTYPE',
      name,
      `dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(DTYPE_BYTES).join(', ')}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad('shape must be a list of integers ≥ 0');
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw bad('data_offsets must be [begin, end], two integers ≥ 0');
  }
  const [begin, end] = offsets as number[];
  if (begin > end || end > bufferLength) {
    throw new SafetensorsError(
      'BAD_OFFSETS',
      name,
      `data_offsets [${begin}, ${end}] ${begin > end ? 'are reversed' : `run past the data, which has ${bufferLength} bytes`}`,
    );
  }
  const count = elementCount(shape);
  const need = count === null ? null : count * DTYPE_BYTES[dtype as Dtype];
  if (need === null || !Number.isSafeInteger(need) || need !== end - begin) {
    throw new SafetensorsError(
      'BAD_OFFSETS',
      name,
      `data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape.join(',')}] of ${dtype} needs ${need ?? 'more than 2^53'}`,
    );
  }
  return { dtype: dtype as Dtype, shape: shape.slice(), begin, end };
}

/**
 * Writes a safetensors file: tensors grouped by element size, largest first (so each starts aligned to its
 * element size), in the given order within a group; the header padded with spaces to a multiple of 8 bytes, as
 * the reference writer does.
 * @throws {SafetensorsError} `BAD_TENSOR` for a data length that does not match shape and dtype, or a repeated name
 */
export function encodeSafetensors(
  tensors: readonly (Tensor & { name: string })[],
  metadata?: Record<string, string>,
): Uint8Array {
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name) || t.name === '__metadata__') {
      throw new SafetensorsError('BAD_TENSOR', t.name, 'the name is used twice or reserved');
    }
    names.add(t.name);
    const need = (elementCount(t.shape) ?? NaN) * DTYPE_BYTES[t.dtype];
    if (need !== t.data.length) {
      throw new SafetensorsError(
        'BAD_TENSOR',
        t.name,
        `${t.data.length} bytes, shape [${t.shape.join(',')}] of ${t.dtype} needs ${need}`,
      );
    }
  }
  const ordered = [...tensors].sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype]);
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of ordered) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const json = utf8Encoder.encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const t of ordered) {
    out.set(t.data, at);
    at += t.data.length;
  }
  return out;
}
