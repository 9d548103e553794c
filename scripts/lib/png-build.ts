/**
 * @module
 * Byte-level PNG and zlib building blocks for the hostile corpus: chunks with right or wrong CRCs, scanlines with
 * a chosen filter, and zlib "bombs" of any size built in O(output / 1032) time and memory. Pure (no Node APIs),
 * so the workerd tests can build the corpus too. Not a PNG encoder for real use (fast-png is).
 */
import { zlibSync } from 'fflate';
import { crc32 } from '../../src/format/crc32.ts';

export const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u32(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** One chunk: length, type, data, CRC (or `crc` instead of the right one). */
export function chunk(type: string, data: Uint8Array = new Uint8Array(0), crc?: number): Uint8Array {
  const typed = concat(ascii(type), data);
  return concat(u32(data.length), typed, u32(crc ?? crc32(typed)));
}

export function ihdr(
  width: number,
  height: number,
  depth: number,
  colorType: number,
  interlace = 0,
): Uint8Array {
  return chunk('IHDR', concat(u32(width), u32(height), Uint8Array.of(depth, colorType, 0, 0, interlace)));
}

/** A PNG of the given chunks (signature first, IEND last unless `end` is false). */
export function png(chunks: Uint8Array[], end = true): Uint8Array {
  return concat(SIGNATURE, ...chunks, ...(end ? [chunk('IEND')] : []));
}

/** Latin-1 keyword + NUL, as iCCP, zTXt and iTXt start. */
export function keyword(name: string): Uint8Array {
  return concat(ascii(name), Uint8Array.of(0));
}

/** Raw bytes as text for tEXt/iTXt bodies. */
export const text = ascii;

/** Samples per pixel by colour type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * Non-interlaced scanlines of `samples` (one number per sample, packed at `depth` bits, big-endian for 16) with
 * every row filtered by `filter` (0 none … 4 Paeth; the filter is applied, so the image decodes to `samples`).
 */
export function scanlines(
  width: number,
  height: number,
  depth: number,
  colorType: number,
  samples: ArrayLike<number>,
  filter = 0,
): Uint8Array {
  const perRow = width * CHANNELS[colorType];
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const bpp = Math.max(1, (CHANNELS[colorType] * depth) / 8);
  const raw = new Uint8Array(height * rowBytes);
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < perRow; i++) {
      const v = samples[y * perRow + i];
      const at = y * rowBytes;
      if (depth === 16) {
        raw[at + 2 * i] = v >>> 8;
        raw[at + 2 * i + 1] = v & 0xff;
      } else if (depth === 8) raw[at + i] = v;
      else raw[at + ((i * depth) >> 3)] |= v << (8 - depth - ((i * depth) & 7));
    }
  }
  const out = new Uint8Array(height * (rowBytes + 1));
  const zero = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    const row = raw.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prev = y > 0 ? raw.subarray((y - 1) * rowBytes, y * rowBytes) : zero;
    const o = y * (rowBytes + 1);
    out[o] = filter;
    for (let x = 0; x < rowBytes; x++) {
      const a = x >= bpp ? row[x - bpp] : 0;
      const b = prev[x];
      const predictor =
        filter === 0
          ? 0
          : filter === 1
            ? a
            : filter === 2
              ? b
              : filter === 3
                ? (a + b) >> 1
                : paeth(a, b, x >= bpp ? prev[x - bpp] : 0);
      out[o + 1 + x] = (row[x] - predictor) & 0xff;
    }
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function zlib(data: Uint8Array, level: 0 | 6 | 9 = 9): Uint8Array {
  return zlibSync(data, { level });
}

/** LSB-first bit writer, as deflate packs its bits. */
class Bits {
  private readonly out: Uint8Array;
  private at = 0;
  private bit = 0;
  constructor(capacity: number) {
    this.out = new Uint8Array(capacity);
  }
  /** `count` bits of `value`, least significant first (header fields, extra bits). */
  put(value: number, count: number): void {
    for (let i = 0; i < count; i++) this.one((value >>> i) & 1);
  }
  /** A Huffman code, most significant bit first. */
  code(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) this.one((value >>> i) & 1);
  }
  private one(b: number): void {
    this.out[this.at] |= b << this.bit;
    if (++this.bit === 8) {
      this.bit = 0;
      this.at++;
    }
  }
  /** Skips `bytes` zero bytes (the bits of 4 matches each, when every code is 0). */
  zeros(bytes: number): void {
    if (this.bit !== 0) throw new Error('zeros() needs byte alignment');
    this.at += bytes;
  }
  get aligned(): boolean {
    return this.bit === 0;
  }
  bytes(): Uint8Array {
    return this.out.subarray(0, this.at + (this.bit ? 1 : 0));
  }
}

/**
 * A valid zlib stream of at least `size` zero bytes (1 + 258·k, k a multiple of 4) in ~size/1032 bytes: one
 * dynamic-Huffman block whose only codes are literal 0 (2 bits), end (2 bits) and a 258-byte copy at distance 1
 * (1 bit + a 1-bit distance code, both 0), so its body is zero bytes. Built without ever holding `size` bytes.
 */
export function zlibBomb(size: number): Uint8Array {
  const groups = Math.max(1, Math.ceil((size - 1) / 258 / 4));
  const bits = new Bits(64 + groups);
  bits.put(1, 1); // BFINAL
  bits.put(2, 2); // dynamic Huffman
  bits.put(29, 5); // HLIT: 286 literal/length codes
  bits.put(0, 5); // HDIST: 1 distance code
  // HCLEN: all 19 code-length codes (18 would do; the 19th's 3 bits make the header's length even, so 2-bit
  // copies reach a byte boundary).
  bits.put(15, 4);
  const order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
  const clLength: Record<number, number> = { 18: 1, 1: 2, 2: 2 }; // codes: 18 → 0, 1 → 10, 2 → 11
  for (const sym of order) bits.put(clLength[sym] ?? 0, 3);
  const run18 = (n: number) => (bits.code(0, 1), bits.put(n - 11, 7));
  const len1 = () => bits.code(0b10, 2);
  const len2 = () => bits.code(0b11, 2);
  // Literal/length lengths: 0 → 2, 1-255 → 0, 256 → 2, 257-284 → 0, 285 → 1; distance 0 → 1.
  len2();
  run18(138);
  run18(117);
  len2();
  run18(28);
  len1();
  len1();
  bits.code(0b10, 2); // literal 0 (lit/len codes: 285 → 0, 0 → 10, 256 → 11)
  // Copies until byte-aligned, then whole zero bytes of four copies each.
  let copies = 0;
  for (let i = 0; i < 4 && !bits.aligned; i++) {
    bits.code(0, 1);
    bits.code(0, 1);
    copies++;
  }
  if (!bits.aligned) throw new Error('zlibBomb: header of odd bit length');
  const bulk = Math.max(0, groups * 4 - copies) >> 2;
  bits.zeros(bulk);
  copies += bulk * 4;
  bits.code(0b11, 2); // end of block
  const body = bits.bytes();
  const length = 1 + 258 * copies;
  // Adler-32 of `length` zero bytes: a stays 1, b gains 1 per byte.
  const adler = ((length % 65521) << 16) | 1;
  return concat(Uint8Array.of(0x78, 0x9c), body, u32(adler >>> 0));
}
