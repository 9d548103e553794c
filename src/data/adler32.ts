/**
 * @module
 * Adler-32 (RFC 1950), the checksum a zlib stream ends with, over the inflated bytes. Pure. Not CRC-32 (see
 * `src/format/crc32.ts`).
 */

const MOD = 65521;
/** Bytes summed between two reductions: small enough that both sums stay small integers (< 2^30). */
const BLOCK = 2048;

/** The Adler-32 of `bytes`, as an unsigned 32-bit integer (a zlib stream stores it big-endian). */
export function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length;) {
    const end = Math.min(bytes.length, i + BLOCK);
    for (; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}
