/**
 * @module
 * CRC-32 (zlib, PNG, Ethernet: reflected polynomial 0xEDB88320), table-driven, eight bytes per step
 * ("slicing-by-8"). Part of the format core rather than a dependency so the blob reads the same in Node and in
 * Workers; it runs over every blob on every decode and encode, so its speed is part of /fine-tune's latency.
 */
import { LITTLE_ENDIAN } from './layout.ts';

/** TABLES[k][b]: the CRC of byte b followed by k zero bytes; TABLES[0] is the classic byte-at-a-time table. */
const TABLES = /* @__PURE__ */ (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++)
      t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
  }
  return t;
})();

/** The CRC-32 of `bytes`, as an unsigned 32-bit number (`crc32("123456789") === 0xcbf43926`). */
export function crc32(bytes: Uint8Array): number {
  const t = TABLES;
  let crc = 0xffffffff;
  let i = 0;
  const n = bytes.length;
  // Byte at a time up to a 4-byte boundary, then 8 bytes a step read as two little-endian words.
  while (i < n && (bytes.byteOffset + i) & 3) crc = t[(crc ^ bytes[i++]) & 0xff] ^ (crc >>> 8);
  if (LITTLE_ENDIAN && n - i >= 8) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + i, ((n - i) >>> 3) << 1);
    for (let w = 0; w < words.length; w += 2) {
      const lo = crc ^ words[w];
      const hi = words[w + 1];
      crc =
        t[1792 + (lo & 0xff)] ^
        t[1536 + ((lo >>> 8) & 0xff)] ^
        t[1280 + ((lo >>> 16) & 0xff)] ^
        t[1024 + (lo >>> 24)] ^
        t[768 + (hi & 0xff)] ^
        t[512 + ((hi >>> 8) & 0xff)] ^
        t[256 + ((hi >>> 16) & 0xff)] ^
        t[hi >>> 24];
    }
    i += words.length * 4;
  }
  for (; i < n; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
