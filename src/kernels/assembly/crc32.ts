/**
 * @module
 * CRC-32 (zlib, PNG: reflected polynomial 0xEDB88320) by slicing-by-8, as `src/format/crc32.ts` computes it, for
 * checking a model blob when it is loaded: compiled before the first call (a cold JavaScript loop over a fresh
 * isolate's 1.3 MB blob took ~4 ms). The tables live in memory the caller provides; not the format's checksum rule.
 */

/** Fills `table` (8·256 u32) with table[k·256 + b], the CRC of byte b followed by k zero bytes. */
export function crc32Tables(table: usize): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(table + ((<usize>n) << 2), c);
  }
  for (let k: u32 = 1; k < 8; k++) {
    for (let n: u32 = 0; n < 256; n++) {
      const prev = load<u32>(table + ((<usize>((k - 1) * 256 + n)) << 2));
      const next = (prev >>> 8) ^ load<u32>(table + ((<usize>(prev & 0xff)) << 2));
      store<u32>(table + ((<usize>(k * 256 + n)) << 2), next);
    }
  }
}

/**
 * The running CRC `crc` (pre-inverted, as zlib's crc32 keeps it between calls) carried over `length` bytes at
 * `at`, with the tables of `crc32Tables` at `table`: byte at a time to a 4-byte boundary, then 8 bytes a step.
 */
export function crc32Update(crc: u32, at: usize, length: usize, table: usize): u32 {
  const end = at + length;
  let p = at;
  for (; p < end && (p & 3) != 0; p++) {
    crc = load<u32>(table + ((<usize>((crc ^ (<u32>load<u8>(p))) & 0xff)) << 2)) ^ (crc >>> 8);
  }
  for (; p + 8 <= end; p += 8) {
    const lo = crc ^ load<u32>(p);
    const hi = load<u32>(p, 4);
    crc =
      load<u32>(table + ((<usize>(7 * 256 + (lo & 0xff))) << 2)) ^
      load<u32>(table + ((<usize>(6 * 256 + ((lo >>> 8) & 0xff))) << 2)) ^
      load<u32>(table + ((<usize>(5 * 256 + ((lo >>> 16) & 0xff))) << 2)) ^
      load<u32>(table + ((<usize>(4 * 256 + (lo >>> 24))) << 2)) ^
      load<u32>(table + ((<usize>(3 * 256 + (hi & 0xff))) << 2)) ^
      load<u32>(table + ((<usize>(2 * 256 + ((hi >>> 8) & 0xff))) << 2)) ^
      load<u32>(table + ((<usize>(256 + ((hi >>> 16) & 0xff))) << 2)) ^
      load<u32>(table + ((<usize>(hi >>> 24)) << 2));
  }
  for (; p < end; p++) {
    crc = load<u32>(table + ((<usize>((crc ^ (<u32>load<u8>(p))) & 0xff)) << 2)) ^ (crc >>> 8);
  }
  return crc;
}
