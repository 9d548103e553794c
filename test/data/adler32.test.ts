/** Adler-32 against published values and against the checksum fflate's compressor writes. */
import { zlibSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { adler32 } from '../../src/data/adler32.ts';

const ascii = (s: string) => new TextEncoder().encode(s);

describe('adler32', () => {
  it('should match published values', () => {
    expect(adler32(new Uint8Array(0))).toBe(1);
    expect(adler32(ascii('a'))).toBe(0x00620062);
    expect(adler32(ascii('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(ascii('abcdefghijklmnopqrstuvwxyz'))).toBe(0x90860b20);
  });

  it('should match the Adler-32 a zlib stream ends with, for sizes across its reduction blocks', () => {
    let s = 12345;
    for (const size of [1, 2047, 2048, 2049, 5552, 5553, 65_536, 300_001]) {
      // All 255s is the worst case for the sums; noise covers the rest.
      for (const data of [
        new Uint8Array(size).fill(255),
        Uint8Array.from({ length: size }, () => (s = (s * 1103515245 + 12345) >>> 0) >>> 24),
      ]) {
        const z = zlibSync(data, { level: 1 });
        const stored = new DataView(z.buffer, z.byteOffset + z.length - 4).getUint32(0);
        expect(adler32(data), `${size} bytes`).toBe(stored);
      }
    }
  });
});
