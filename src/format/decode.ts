/**
 * @module
 * Blob → model. Every byte is checked and the first problem is thrown with its offset; header fields are checked
 * as they are read, and sizes against the limits before anything is allocated. Not a streaming reader.
 */
import { crc32 } from './crc32.ts';
import { formatError, hex32 } from './errors.ts';
import { halfBitsToFloat } from './half.ts';
import {
  ACTIVATION_LEAKY_RELU,
  blobLayout,
  checkSizeCount,
  checkSizes,
  ENCODINGS,
  FORMAT_VERSION,
  HEADER,
  LITTLE_ENDIAN,
  MAGIC,
  MAX_METADATA_BYTES,
  paramCount,
  type LayerLayout,
  type Section,
} from './layout.ts';
import { parseMetadata } from './metadata.ts';
import type { ModelData, WeightEncoding } from './types.ts';

/**
 * @throws {ModelFormatError} `BAD_ACTIVATION` unless 0 ≤ alpha ≤ 1 (NaN included)
 */
function checkAlpha(alpha: number, offset: number): void {
  if (!(alpha >= 0 && alpha <= 1)) {
    throw formatError('BAD_ACTIVATION', offset, `LeakyReLU alpha is ${alpha}, expected a number from 0 to 1`);
  }
}

const hexBytes = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');

/** How `decodeModel` checks: the checksum function, by default the format's `crc32`. */
export interface DecodeOptions {
  /** The CRC-32 of its bytes as `crc32` computes it (e.g. the wasm kernels' `crc32`, faster on a cold start). */
  crc32?: (bytes: Uint8Array) => number;
  /**
   * The caller hands `bytes` over (e.g. a blob just read from R2, kept by no one else): int8 weights are views
   * into it instead of copies (1.3 MB less to allocate and copy for the default model). Default false.
   */
  adopt?: boolean;
}

/**
 * Decodes a model blob (format spec: `models/README.md`). The result owns its arrays and `bytes` may be reused,
 * unless `options.adopt` gives the blob to the result.
 * @throws {ModelFormatError} for anything but a well-formed version-1 blob, with the offset of the first bad byte
 */
export function decodeModel(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): ModelData & { formatVersion: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (offset: number, length: number, what: string) => {
    if (offset + length > bytes.length) {
      throw formatError(
        'TRUNCATED',
        offset,
        `${what} needs ${length} bytes, the blob ends at byte ${bytes.length}`,
      );
    }
  };

  const magic = bytes.subarray(0, MAGIC.length);
  if (magic.some((b, i) => b !== MAGIC[i])) {
    throw formatError('BAD_MAGIC', 0, `found ${hexBytes(magic)}, expected ${hexBytes(MAGIC)} ("EMLP")`);
  }
  need(HEADER.magic, MAGIC.length, 'magic');

  need(HEADER.version, 2, 'format version');
  const version = view.getUint16(HEADER.version, true);
  if (version !== FORMAT_VERSION) {
    throw formatError(
      'UNSUPPORTED_VERSION',
      HEADER.version,
      `version ${version}, this reader knows ${FORMAT_VERSION}`,
    );
  }

  need(HEADER.encoding, 1, 'weight encoding');
  const encoding: WeightEncoding | undefined = ENCODINGS[bytes[HEADER.encoding]];
  if (encoding === undefined) {
    throw formatError(
      'BAD_ENCODING',
      HEADER.encoding,
      `byte ${bytes[HEADER.encoding]}, expected 0 (f32), 1 (f16) or 2 (int8)`,
    );
  }

  need(HEADER.activation, 1, 'activation kind');
  if (bytes[HEADER.activation] !== ACTIVATION_LEAKY_RELU) {
    throw formatError(
      'BAD_ACTIVATION',
      HEADER.activation,
      `kind ${bytes[HEADER.activation]}, expected ${ACTIVATION_LEAKY_RELU} (LeakyReLU)`,
    );
  }
  need(HEADER.alpha, 4, 'LeakyReLU alpha');
  const alpha = view.getFloat32(HEADER.alpha, true);
  checkAlpha(alpha, HEADER.alpha);

  need(HEADER.sizeCount, 4, 'size count');
  const sizeCount = view.getUint32(HEADER.sizeCount, true);
  checkSizeCount(sizeCount, HEADER.sizeCount);

  need(HEADER.metadataLength, 4, 'metadata length');
  const metadataLength = view.getUint32(HEADER.metadataLength, true);
  if (metadataLength > MAX_METADATA_BYTES) {
    throw formatError(
      'TOO_LARGE',
      HEADER.metadataLength,
      `metadata of ${metadataLength} bytes, the limit is ${MAX_METADATA_BYTES}`,
    );
  }

  need(HEADER.sizes, 4 * sizeCount, 'sizes');
  const sizes = Array.from({ length: sizeCount }, (_, i) => view.getUint32(HEADER.sizes + 4 * i, true));
  checkSizes(sizes, HEADER.sizes);

  const layout = blobLayout(sizes, encoding, metadataLength);
  for (const section of layout.sections) need(section.offset, section.length, section.name);
  if (bytes.length > layout.totalLength) {
    throw formatError(
      'TRAILING_BYTES',
      layout.totalLength,
      `${bytes.length - layout.totalLength} byte(s) after the checksum that ends the model`,
    );
  }

  const checksumAt = layout.checksum.offset;
  const stored = view.getUint32(checksumAt, true);
  const computed = (options.crc32 ?? crc32)(bytes.subarray(0, checksumAt));
  if (stored !== computed) {
    throw formatError(
      'CHECKSUM_MISMATCH',
      checksumAt,
      `stored ${hex32(stored)}, computed ${hex32(computed)}`,
    );
  }

  for (const gap of layout.padding) {
    for (let i = gap.offset; i < gap.offset + gap.length; i++) {
      if (bytes[i] !== 0) throw formatError('BAD_PADDING', i, `${gap.name} byte is ${bytes[i]}, expected 0`);
    }
  }

  const { offset: metadataAt, length } = layout.metadata;
  const metadata = parseMetadata(bytes.subarray(metadataAt, metadataAt + length), metadataAt);

  const model = { formatVersion: version, sizes, alpha, encoding, metadata } as ModelData & {
    formatVersion: number;
  };
  if (encoding === 'int8') {
    // Every byte is checked now; the float copy of the weights (`params`, dequantized) is made when first read.
    // A predictor does not read it (it runs the int8 weights and takes `bias` from each layer), so serving an
    // int8 model never makes it: 5.3 MB and a cold loop over every weight less in a fresh isolate's first request.
    const quantized = layout.layers.map((layer) => readInt8(view, layer, options.adopt === true));
    let params: Float32Array | null = null;
    Object.defineProperty(model, 'params', {
      enumerable: true,
      configurable: true,
      get: () => (params ??= dequantize(sizes, layout.layers, quantized)),
      set: (value: Float32Array) => {
        params = value;
      },
    });
    model.quantized = quantized;
    return model;
  }
  const params = new Float32Array(paramCount(sizes));
  for (const layer of layout.layers) {
    if (encoding === 'f32') readF32(view, layer.weight, params, layer.paramOffset);
    else readF16(view, layer.weight, params, layer.paramOffset);
    readF32(view, layer.bias, params, layer.biasParamOffset);
  }
  model.params = params;
  return model;
}

/** The flat float parameters of int8 layers: each weight q·scale of its row, each bias as stored. */
function dequantize(
  sizes: number[],
  layers: readonly LayerLayout[],
  quantized: { q: Int8Array; scale: Float32Array; bias: Float32Array }[],
): Float32Array {
  const out = new Float32Array(paramCount(sizes));
  layers.forEach(({ inSize, outSize, paramOffset, biasParamOffset }, l) => {
    const { q, scale, bias } = quantized[l];
    for (let r = 0, i = 0; r < outSize; r++) {
      const s = scale[r];
      for (const end = i + inSize; i < end; i++) out[paramOffset + i] = q[i] * s;
    }
    out.set(bias, biasParamOffset);
  });
  return out;
}

const nonFinite = (at: number, section: Section, index: number, value: number) =>
  formatError('NON_FINITE', at, `${section.name}[${index}] is ${value}`);

/** Copies a section of float32 values into `out` from `start`, refusing NaN and ±Inf. */
function readF32(view: DataView, section: Section, out: Float32Array, start: number): void {
  const count = section.length / 4;
  const from = view.byteOffset + section.offset;
  if (LITTLE_ENDIAN && from % 4 === 0) {
    // The blob's byte order is the machine's: copy the words as they are, then check them.
    out.set(new Float32Array(view.buffer, from, count), start);
    if (allFinite(out, start, count)) return;
    for (let i = 0; i < count; i++) {
      const value = out[start + i];
      if (!Number.isFinite(value)) throw nonFinite(section.offset + 4 * i, section, i, value);
    }
    return;
  }
  for (let i = 0, at = section.offset; i < count; i++, at += 4) {
    const value = view.getFloat32(at, true);
    if (!Number.isFinite(value)) throw nonFinite(at, section, i, value);
    out[start + i] = value;
  }
}

/** Whether out[start, start + count) holds no NaN or ±Inf: x·0 is 0 for every finite x, NaN otherwise. */
function allFinite(out: Float32Array, start: number, count: number): boolean {
  let [s0, s1, s2, s3] = [0, 0, 0, 0];
  let i = start;
  const end = start + count;
  for (; i + 4 <= end; i += 4) {
    s0 += out[i] * 0;
    s1 += out[i + 1] * 0;
    s2 += out[i + 2] * 0;
    s3 += out[i + 3] * 0;
  }
  for (; i < end; i++) s0 += out[i] * 0;
  return s0 + s1 + s2 + s3 === 0;
}

/** As `readF32` for binary16 values; an all-ones exponent (Inf or NaN) is refused before conversion. */
function readF16(view: DataView, section: Section, out: Float32Array, start: number): void {
  for (let i = 0, at = section.offset; i < section.length / 2; i++, at += 2) {
    const bits = view.getUint16(at, true);
    if ((bits & 0x7c00) === 0x7c00) throw nonFinite(at, section, i, halfBitsToFloat(bits));
    out[start + i] = halfBitsToFloat(bits);
  }
}

/** Reads one int8 layer's q (a view into the blob when `adopt`), scales and biases, checking every value. */
function readInt8(
  view: DataView,
  layer: LayerLayout,
  adopt: boolean,
): { q: Int8Array; scale: Float32Array; bias: Float32Array } {
  const { outSize, weight } = layer;
  const scales = layer.scale!;
  const scale = new Float32Array(outSize);
  readF32(view, scales, scale, 0);
  for (let r = 0; r < outSize; r++) {
    if (scale[r] < 0 || Object.is(scale[r], -0)) {
      throw formatError(
        'BAD_SCALE',
        scales.offset + 4 * r,
        `${scales.name}[${r}] is ${scale[r]}, expected ≥ +0`,
      );
    }
  }
  const stored = new Int8Array(view.buffer, view.byteOffset + weight.offset, weight.length);
  const q = adopt ? stored : stored.slice();
  // The first −128 by the engine's own search (fast from the first call, where a cold loop is not).
  const bad = q.indexOf(-128);
  if (bad >= 0) {
    throw formatError(
      'BAD_QUANTIZED',
      weight.offset + bad,
      `${weight.name}[${bad}] is -128, expected -127 to 127`,
    );
  }
  const bias = new Float32Array(outSize);
  readF32(view, layer.bias, bias, 0);
  return { q, scale, bias };
}
