/**
 * The checks of the Worker's blob checksum (`src/worker/checksum.ts`), shared by its Node and workerd tests: equal
 * to the format's `crc32` at every alignment and length, and a blob with any one byte changed is refused.
 */
import { expect, it } from 'vitest';
import { crc32, decodeModel, ModelFormatError } from '../../src/format/index.ts';
import { blobCrc32 } from '../../src/worker/checksum.ts';
import { encoded, seededRandom } from '../format/fixtures.ts';

export function checksumChecks(): void {
  it("should equal the format's crc32 on views of every alignment and of many lengths", () => {
    const random = seededRandom(11);
    const data = new Uint8Array((1 << 20) + 64).map(() => random() * 256);
    for (let offset = 0; offset < 8; offset++) {
      for (const n of [0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 65536, 65537]) {
        const view = data.subarray(offset, offset + n);
        expect(blobCrc32(view), `offset ${offset}, length ${n}`).toBe(crc32(view));
      }
    }
    expect(blobCrc32(data)).toBe(crc32(data));
    expect(blobCrc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('should make decodeModel refuse an int8 blob with any one byte changed (checksum or field check)', () => {
    const blob = encoded([784, 32, 16, 10], 'int8', 3);
    expect(() => decodeModel(blob, { crc32: blobCrc32 })).not.toThrow();
    const random = seededRandom(12);
    const positions = [0, 8, blob.length - 5, blob.length - 1];
    for (let i = 0; i < 60; i++) positions.push(Math.floor(random() * blob.length));
    for (const at of positions) {
      const bad = blob.slice();
      bad[at] ^= 1 << Math.floor(random() * 8);
      expect(() => decodeModel(bad, { crc32: blobCrc32 }), `byte ${at}`).toThrow(ModelFormatError);
    }
  });
}
