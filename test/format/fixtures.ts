/**
 * Builders shared by the format tests: seeded models, and blob surgery (patch a field, then reseal the checksum
 * so that the corruption reaches the checks behind it).
 */
import {
  crc32,
  encodeModel,
  paramCount,
  type ModelData,
  type WeightEncoding,
} from '../../src/format/index.ts';
import { createRng } from '../../src/nn/rng.ts';

/** A small seeded generator (the network's own), so a failing case can be replayed. */
export const seededRandom = createRng;

export const METADATA = { dataset: 'mnist', createdAt: '2024-01-02T03:04:05.000Z' };

/** A model with weights roughly N(0, 1/in) scaled, biases small, from `seed`. */
export function makeModel(
  sizes: number[],
  encoding: WeightEncoding,
  seed = 1,
  metadata = METADATA,
): ModelData {
  const random = seededRandom(seed);
  const params = new Float32Array(paramCount(sizes)).map(() => (random() - 0.5) * 0.4);
  return { sizes, alpha: 0.01, encoding, params, metadata: { ...metadata } };
}

export function encoded(sizes: number[], encoding: WeightEncoding, seed = 1): Uint8Array {
  return encodeModel(makeModel(sizes, encoding, seed));
}

/** A copy of the blob with its trailing CRC-32 recomputed. */
export function reseal(blob: Uint8Array): Uint8Array {
  const out = blob.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** A copy with `edit` applied through a DataView (little-endian is up to `edit`), then resealed. */
export function patched(blob: Uint8Array, edit: (view: DataView, bytes: Uint8Array) => void, seal = true) {
  const out = blob.slice();
  edit(new DataView(out.buffer), out);
  return seal ? reseal(out) : out;
}

const align4 = (n: number) => (n + 3) & ~3;

/**
 * The blob with its metadata replaced by `metadata` (raw bytes or text), the length field and padding adjusted
 * and the checksum resealed: the way to reach the metadata checks with well-formed surroundings.
 */
export function withMetadata(blob: Uint8Array, metadata: string | Uint8Array): Uint8Array {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const sizeCount = view.getUint32(12, true);
  const metadataAt = 20 + 4 * sizeCount;
  const layersAt = align4(metadataAt + view.getUint32(16, true));
  const bytes = typeof metadata === 'string' ? new TextEncoder().encode(metadata) : metadata;
  const newLayersAt = align4(metadataAt + bytes.length);
  const out = new Uint8Array(newLayersAt + (blob.length - layersAt));
  out.set(blob.subarray(0, metadataAt));
  new DataView(out.buffer).setUint32(16, bytes.length, true);
  out.set(bytes, metadataAt);
  out.set(blob.subarray(layersAt), newLayersAt);
  return reseal(out);
}
