/**
 * @module
 * Model → blob (format spec: `models/README.md`). The encoder decodes what it wrote before returning it, so it
 * can never hand out a blob the decoder would refuse (NaN weights, f16 overflow, a bad alpha…).
 */
import { crc32 } from './crc32.ts';
import { decodeModel } from './decode.ts';
import { formatError } from './errors.ts';
import { floatToHalfBits } from './half.ts';
import {
  ACTIVATION_LEAKY_RELU,
  blobLayout,
  checkSizes,
  ENCODINGS,
  FORMAT_VERSION,
  HEADER,
  LITTLE_ENDIAN,
  MAGIC,
  paramCount,
} from './layout.ts';
import { serializeMetadata } from './metadata.ts';
import { quantizeRows } from './quantize.ts';
import type { ModelData } from './types.ts';

/**
 * Encodes a model. For int8, `model.quantized` is written as is when present (so a decoded blob re-encodes to the
 * same bytes), else the weights in `params` are quantized with `quantizeRows`.
 * @throws {ModelFormatError} offset -1 for an inconsistent model (`BAD_SIZES`, `TOO_LARGE`, `BAD_ENCODING`,
 *   `BAD_PARAMS`, `BAD_METADATA`); otherwise the code and offset the decoder gives for the written blob
 *   (`NON_FINITE`, `BAD_ACTIVATION`, …)
 */
export function encodeModel(model: ModelData): Uint8Array {
  return encodeModelDecoded(model).bytes;
}

/**
 * `encodeModel`, plus the blob's decoded data from the encoder's own check: for callers that go on to use the
 * model as stored (a fine-tune scores its child), so the blob is decoded once, not twice.
 * @throws {ModelFormatError} as `encodeModel`
 */
export function encodeModelDecoded(model: ModelData): { bytes: Uint8Array; decoded: ModelData } {
  const { sizes, alpha, encoding, params } = model;
  const encodingByte = ENCODINGS.indexOf(encoding);
  if (encodingByte < 0)
    throw formatError('BAD_ENCODING', -1, `${String(encoding)}, expected f32, f16 or int8`);
  checkSizes(sizes, -1);
  const count = paramCount(sizes);
  if (params.length !== count) {
    throw formatError(
      'BAD_PARAMS',
      -1,
      `params has ${params.length} values, sizes ${sizes.join(',')} need ${count}`,
    );
  }
  const metadata = serializeMetadata(model.metadata);
  const layout = blobLayout(sizes, encoding, metadata.length);
  const quantized = encoding === 'int8' ? (model.quantized ?? quantizeLayers(model)) : null;
  if (quantized) checkQuantizedShapes(quantized, sizes);

  const bytes = new Uint8Array(layout.totalLength);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, HEADER.magic);
  view.setUint16(HEADER.version, FORMAT_VERSION, true);
  view.setUint8(HEADER.encoding, encodingByte);
  view.setUint8(HEADER.activation, ACTIVATION_LEAKY_RELU);
  view.setFloat32(HEADER.alpha, alpha, true);
  view.setUint32(HEADER.sizeCount, sizes.length, true);
  view.setUint32(HEADER.metadataLength, metadata.length, true);
  sizes.forEach((n, i) => view.setUint32(HEADER.sizes + 4 * i, n, true));
  bytes.set(metadata, layout.metadata.offset);

  layout.layers.forEach((layer, l) => {
    const { weight, bias, outSize, paramOffset, biasParamOffset } = layer;
    const n = outSize * layer.inSize;
    if (encoding === 'f32') writeF32(view, weight.offset, params.subarray(paramOffset, paramOffset + n));
    if (encoding === 'f16') {
      for (let i = 0; i < n; i++) {
        const value = params[paramOffset + i];
        const half = floatToHalfBits(value);
        if ((half & 0x7c00) === 0x7c00 && Number.isFinite(value)) {
          throw formatError(
            'NON_FINITE',
            -1,
            `layer ${l} weight[${i}] = ${value} overflows float16 (max ±65504)`,
          );
        }
        view.setUint16(weight.offset + 2 * i, half, true);
      }
    }
    if (quantized) {
      bytes.set(new Uint8Array(quantized[l].q.buffer, quantized[l].q.byteOffset, n), weight.offset);
      writeF32(view, layer.scale!.offset, quantized[l].scale);
    }
    writeF32(view, bias.offset, params.subarray(biasParamOffset, biasParamOffset + outSize));
  });
  view.setUint32(layout.checksum.offset, crc32(bytes.subarray(0, layout.checksum.offset)), true);

  return { bytes, decoded: decodeModel(bytes) };
}

function writeF32(view: DataView, at: number, values: Float32Array): void {
  if (LITTLE_ENDIAN) {
    // The blob's byte order is the machine's: copy the words as they are.
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.length * 4);
    new Uint8Array(view.buffer, view.byteOffset + at, bytes.length).set(bytes);
    return;
  }
  for (let i = 0; i < values.length; i++) view.setFloat32(at + 4 * i, values[i], true);
}

function quantizeLayers({ sizes, params }: ModelData): { q: Int8Array; scale: Float32Array }[] {
  const layers = [];
  for (let l = 0, at = 0; l + 1 < sizes.length; l++) {
    const [inSize, outSize] = [sizes[l], sizes[l + 1]];
    layers.push(quantizeRows(params.subarray(at, at + outSize * inSize), outSize, inSize));
    at += outSize * (inSize + 1);
  }
  return layers;
}

function checkQuantizedShapes(
  quantized: { q: Int8Array; scale: Float32Array }[],
  sizes: readonly number[],
): void {
  if (quantized.length !== sizes.length - 1) {
    throw formatError(
      'BAD_PARAMS',
      -1,
      `quantized has ${quantized.length} layers, sizes need ${sizes.length - 1}`,
    );
  }
  quantized.forEach(({ q, scale }, l) => {
    const [inSize, outSize] = [sizes[l], sizes[l + 1]];
    if (q.length !== outSize * inSize || scale.length !== outSize) {
      throw formatError(
        'BAD_PARAMS',
        -1,
        `quantized layer ${l} has ${q.length} q and ${scale.length} scales, expected ${outSize * inSize} and ${outSize}`,
      );
    }
  });
}
