/**
 * @module
 * Where every byte of a version-1 blob goes: header offsets, limits, and the section list both the encoder and
 * the decoder walk. The prose spec is `models/README.md`; this is its arithmetic, with no reading or writing.
 */
import { formatError } from './errors.ts';
import type { WeightEncoding } from './types.ts';

export const FORMAT_VERSION = 1;
/**
 * Whether this machine stores numbers little-endian, as blobs do (every platform Node and Workers run on):
 * then float32 sections are copied word for word instead of value by value.
 */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** `EMLP` */
export const MAGIC = Uint8Array.of(0x45, 0x4d, 0x4c, 0x50);

export const MIN_SIZE_COUNT = 2;
export const MAX_SIZE_COUNT = 16;
export const MAX_LAYER_SIZE = 65_536;
export const MAX_PARAMS = 2 ** 26;
export const MAX_METADATA_BYTES = 1 << 20;

/** Byte offsets of the fixed header fields. */
export const HEADER = {
  magic: 0,
  version: 4,
  encoding: 6,
  activation: 7,
  alpha: 8,
  sizeCount: 12,
  metadataLength: 16,
  sizes: 20,
} as const;

export const ENCODINGS: readonly WeightEncoding[] = ['f32', 'f16', 'int8'];
/** The only activation kind of version 1: LeakyReLU on hidden layers (0 is reserved, so a zeroed header fails). */
export const ACTIVATION_LEAKY_RELU = 1;

const BYTES_PER_WEIGHT: Record<WeightEncoding, number> = { f32: 4, f16: 2, int8: 1 };

/** Total parameter count: Σ out·(in + 1) over the layers. */
export function paramCount(sizes: readonly number[]): number {
  let total = 0;
  for (let l = 0; l + 1 < sizes.length; l++) total += sizes[l + 1] * (sizes[l] + 1);
  return total;
}

/** @throws {ModelFormatError} `BAD_SIZES` unless 2 ≤ count ≤ 16 */
export function checkSizeCount(count: number, offset: number): void {
  if (count < MIN_SIZE_COUNT || count > MAX_SIZE_COUNT) {
    throw formatError('BAD_SIZES', offset, `${count} sizes, expected ${MIN_SIZE_COUNT} to ${MAX_SIZE_COUNT}`);
  }
}

/**
 * Checks a size list against the limits, without allocating. `offset` is where the list sits in a blob (the error
 * offsets point at the bad entry), or -1 for a model being encoded.
 * @throws {ModelFormatError} `BAD_SIZES` or `TOO_LARGE`
 */
export function checkSizes(sizes: readonly number[], offset: number): void {
  const at = (i: number) => (offset < 0 ? -1 : offset + 4 * i);
  checkSizeCount(sizes.length, offset < 0 ? -1 : HEADER.sizeCount);
  sizes.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 1 || n > MAX_LAYER_SIZE) {
      throw formatError(
        'BAD_SIZES',
        at(i),
        `size ${i} is ${n}, expected an integer from 1 to ${MAX_LAYER_SIZE}`,
      );
    }
  });
  const count = paramCount(sizes); // exact: at most 15 · 65536 · 65537 < 2^53
  if (count > MAX_PARAMS) {
    throw formatError(
      'TOO_LARGE',
      at(0),
      `sizes ${sizes.join(',')} make ${count} parameters, the limit is ${MAX_PARAMS}`,
    );
  }
}

/** One contiguous run of bytes with a name for messages. */
export interface Section {
  name: string;
  offset: number;
  length: number;
}

export interface LayerLayout {
  inSize: number;
  outSize: number;
  /** Where this layer's weight and bias start in the flat `params`. */
  paramOffset: number;
  biasParamOffset: number;
  weight: Section;
  /** int8 only. */
  scale: Section | null;
  bias: Section;
}

export interface BlobLayout {
  metadata: Section;
  layers: LayerLayout[];
  /** Zero-filled gaps that keep sections 4-aligned. */
  padding: Section[];
  checksum: Section;
  /** Every section in file order, header fields excluded: for reporting the first incomplete one. */
  sections: Section[];
  totalLength: number;
}

const align4 = (n: number) => (n + 3) & ~3;

/** The byte layout of a blob with these (already checked) sizes, encoding and metadata length. */
export function blobLayout(
  sizes: readonly number[],
  encoding: WeightEncoding,
  metadataLength: number,
): BlobLayout {
  const sections: Section[] = [];
  const padding: Section[] = [];
  let pos = HEADER.sizes + 4 * sizes.length;
  const take = (name: string, length: number): Section => {
    const section = { name, offset: pos, length };
    sections.push(section);
    pos += length;
    return section;
  };
  const pad = (name: string) => {
    if (pos % 4 !== 0) padding.push(take(name, align4(pos) - pos));
  };

  const metadata = take('metadata', metadataLength);
  pad('metadata padding');
  const layers: LayerLayout[] = [];
  let paramOffset = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inSize = sizes[l];
    const outSize = sizes[l + 1];
    const weight = take(`layer ${l} weight`, outSize * inSize * BYTES_PER_WEIGHT[encoding]);
    pad(`layer ${l} weight padding`);
    const scale = encoding === 'int8' ? take(`layer ${l} scale`, 4 * outSize) : null;
    const bias = take(`layer ${l} bias`, 4 * outSize);
    const biasParamOffset = paramOffset + outSize * inSize;
    layers.push({ inSize, outSize, paramOffset, biasParamOffset, weight, scale, bias });
    paramOffset = biasParamOffset + outSize;
  }
  const checksum = take('checksum', 4);
  return { metadata, layers, padding, checksum, sections, totalLength: pos };
}
