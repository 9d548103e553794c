/**
 * @module
 * The held-out check set that guards fine-tuning: a tiny binary of labelled 28×28 images stored next to the models.
 * Pure bytes in, typed arrays out; not a general dataset format (see `src/data` for IDX).
 *
 * Layout (little-endian, no padding, no trailing bytes):
 *   0  4 bytes  magic "CHK1"
 *   4  u32      n, the number of images (1 ≤ n ≤ 65536)
 *   8  n×784    pixels, u8 (0-255), row-major, image after image
 *   …  n        labels, u8 (0-9)
 */

export const CHECK_SET_MAGIC = 'CHK1';
export const CHECK_SET_MAX = 65536;
const PIXELS = 784;
const HEADER = 8;

export interface CheckSet {
  count: number;
  /** [count×784] pixels scaled to [0,1], as the network expects. */
  images: Float32Array;
  labels: Uint8Array;
}

/** Raised for any byte sequence that is not a well-formed check set. */
export class CheckSetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckSetError';
  }
}

/**
 * Encodes `count` images of raw 0-255 pixels and their labels.
 * @throws {CheckSetError} when sizes disagree or a label is not a digit.
 */
export function encodeCheckSet(pixels: Uint8Array, labels: Uint8Array): Uint8Array {
  const n = labels.length;
  if (n < 1 || n > CHECK_SET_MAX)
    throw new CheckSetError(`check set needs 1..${CHECK_SET_MAX} images, got ${n}`);
  if (pixels.length !== n * PIXELS) {
    throw new CheckSetError(`expected ${n * PIXELS} pixel bytes for ${n} images, got ${pixels.length}`);
  }
  const out = new Uint8Array(HEADER + n * PIXELS + n);
  for (let i = 0; i < 4; i++) out[i] = CHECK_SET_MAGIC.charCodeAt(i);
  new DataView(out.buffer).setUint32(4, n, true);
  out.set(pixels, HEADER);
  for (let i = 0; i < n; i++) {
    if (labels[i] > 9) throw new CheckSetError(`label ${i} is ${labels[i]}, not a digit`);
  }
  out.set(labels, HEADER + n * PIXELS);
  return out;
}

/**
 * Decodes and validates every byte of a check set.
 * @throws {CheckSetError} on a wrong magic, a size that does not match the count, or a label above 9.
 */
export function decodeCheckSet(bytes: Uint8Array): CheckSet {
  if (bytes.length < HEADER)
    throw new CheckSetError(`check set truncated: ${bytes.length} of ${HEADER} header bytes`);
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== CHECK_SET_MAGIC.charCodeAt(i)) throw new CheckSetError('not a check set (bad magic)');
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (n < 1 || n > CHECK_SET_MAX)
    throw new CheckSetError(`check set count ${n} out of range 1..${CHECK_SET_MAX}`);
  const expected = HEADER + n * PIXELS + n;
  if (bytes.length !== expected) {
    throw new CheckSetError(`check set of ${n} images must be ${expected} bytes, got ${bytes.length}`);
  }
  const images = new Float32Array(n * PIXELS);
  for (let i = 0; i < n * PIXELS; i++) images[i] = bytes[HEADER + i] / 255;
  const labels = bytes.slice(HEADER + n * PIXELS);
  for (let i = 0; i < n; i++) {
    if (labels[i] > 9) throw new CheckSetError(`check set label ${i} is ${labels[i]}, not a digit`);
  }
  return { count: n, images, labels };
}
