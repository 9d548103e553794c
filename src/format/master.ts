/**
 * @module
 * Float32 master weights (spec: "Master weights" in `models/README.md`). An int8 or f16 serving blob is paired with
 * a master blob: an ordinary f32 blob of the same network, holding the weights the serving copy was quantized
 * from. The serving blob's metadata names its master by CRC-32 and length, so a master that does not belong to it
 * is refused. Fine-tunes start from the master and quantize only the serving copy, so small updates accumulate
 * instead of being rounded away at every step. Pure bytes in, bytes out.
 */
import { crc32 } from './crc32.ts';
import { decodeModel } from './decode.ts';
import { encodeModel } from './encode.ts';
import type { ModelData } from './types.ts';

/** `metadata.master` of a serving blob: which f32 blob holds its master weights. */
export interface MasterEntry {
  /** The master blob's checksum field: CRC-32 of its bytes before the last four. */
  crc32: number;
  /** Length of the master blob in bytes. */
  bytes: number;
}

/** A master that is not the one the serving blob names, or not an f32 blob of the same network. */
export class MasterMismatchError extends Error {
  override readonly name = 'MasterMismatchError';
}

/** The master file beside a serving file on disk: `default.bin` → `default.master.bin`. */
export function masterFileOf(path: string): string {
  return path.replace(/(\.bin)?$/, '.master.bin');
}

/** The `metadata.master` entry of a serving blob, or null when it names none (or names it wrongly). */
export function masterEntryOf(model: ModelData): MasterEntry | null {
  const m = model.metadata.master as Partial<MasterEntry> | undefined;
  if (!m || typeof m !== 'object') return null;
  if (!Number.isInteger(m.crc32) || !Number.isInteger(m.bytes)) return null;
  return { crc32: m.crc32!, bytes: m.bytes! };
}

/**
 * The master blob of `model`: its weights (`params`, taken as float32, `quantized` ignored) as an f32 blob whose
 * metadata keeps only `dataset`, `createdAt` and `role: "master"`.
 */
export function encodeMaster(model: ModelData): Uint8Array {
  return encodeModel({
    sizes: model.sizes,
    alpha: model.alpha,
    encoding: 'f32',
    params: model.params,
    metadata: { dataset: model.metadata.dataset, createdAt: model.metadata.createdAt, role: 'master' },
  });
}

/** The serving model, with `metadata.master` naming `masterBytes`. */
export function withMaster(model: ModelData, masterBytes: Uint8Array): ModelData {
  const entry: MasterEntry = { crc32: checksumOf(masterBytes), bytes: masterBytes.length };
  return { ...model, metadata: { ...model.metadata, master: entry } };
}

/**
 * Decodes `masterBytes` as the master of `serving` and returns its float32 weights.
 * @throws {MasterMismatchError} when the serving blob names no master, or another one (CRC-32 or length differ),
 *   or the master is not an f32 blob of the same sizes and alpha.
 * @throws {ModelFormatError} when the master blob itself is malformed.
 */
export function decodeMaster(serving: ModelData, masterBytes: Uint8Array): Float32Array {
  const entry = masterEntryOf(serving);
  if (!entry) throw new MasterMismatchError('the serving blob names no master');
  const crc = checksumOf(masterBytes);
  if (entry.bytes !== masterBytes.length || entry.crc32 !== crc) {
    throw new MasterMismatchError(
      `the master is ${masterBytes.length} bytes with CRC-32 ${crc}; the serving blob names ` +
        `${entry.bytes} bytes with CRC-32 ${entry.crc32}`,
    );
  }
  const master = decodeModel(masterBytes);
  if (
    master.encoding !== 'f32' ||
    master.sizes.join(',') !== serving.sizes.join(',') ||
    master.alpha !== Math.fround(serving.alpha)
  ) {
    throw new MasterMismatchError(
      `the master is ${master.encoding} ${master.sizes.join('-')} alpha ${master.alpha}; ` +
        `the serving blob is ${serving.sizes.join('-')} alpha ${serving.alpha}`,
    );
  }
  return master.params;
}

/**
 * The float32 weights a fine-tune of `serving` starts from: an f32 blob is its own master; an int8/f16 one uses
 * its master blob when given, else (an older model stored without one) its dequantized weights.
 * @throws {MasterMismatchError} as `decodeMaster`, for a master that does not belong to `serving`.
 */
export function startingWeights(
  serving: ModelData,
  masterBytes: Uint8Array | null,
): { params: Float32Array; source: 'serving-f32' | 'master' | 'dequantized' } {
  if (serving.encoding === 'f32') return { params: serving.params, source: 'serving-f32' };
  if (masterBytes) return { params: decodeMaster(serving, masterBytes), source: 'master' };
  return { params: serving.params, source: 'dequantized' };
}

/** CRC-32 of a blob's bytes before its checksum field (over the whole blob, a CRC-32 is always the same residue). */
function checksumOf(blob: Uint8Array): number {
  return crc32(blob.subarray(0, Math.max(0, blob.length - 4)));
}
