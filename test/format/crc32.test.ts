import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/format/index.ts';
import { seededRandom } from './fixtures.ts';

describe('crc32', () => {
  it('should give the standard check values', () => {
    const ascii = (s: string) => new TextEncoder().encode(s);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(ascii('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('should agree with zlib on random data of every length up to 300 and on a large buffer', () => {
    const random = seededRandom(7);
    const data = new Uint8Array(1 << 20).map(() => random() * 256);
    for (let n = 0; n <= 300; n++)
      expect(crc32(data.subarray(5, 5 + n))).toBe(zlibCrc32(data.subarray(5, 5 + n)));
    expect(crc32(data)).toBe(zlibCrc32(data));
  });

  it('should agree with zlib whatever the alignment of the view, for short and long views', () => {
    const random = seededRandom(8);
    const data = new Uint8Array(4096).map(() => random() * 256);
    for (let offset = 0; offset < 8; offset++) {
      for (const n of [0, 1, 3, 7, 8, 9, 15, 16, 17, 40, 1000]) {
        const view = data.subarray(offset, offset + n);
        expect(crc32(view), `offset ${offset}, length ${n}`).toBe(zlibCrc32(view));
      }
    }
  });
});
