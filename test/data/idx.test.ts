import { describe, expect, it } from 'vitest';
import {
  checkSameCount,
  encodeIdx,
  IdxFormatError,
  parseIdxImages,
  parseIdxLabels,
  type IdxErrorCode,
} from '../../src/data/idx.ts';

/** Two 2×3 images with pixel values 0..11. */
const PIXELS = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
const IMAGES = encodeIdx([2, 2, 3], PIXELS);
const LABELS = encodeIdx([2], Uint8Array.of(7, 0));

function withByte(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[offset] = value;
  return copy;
}

function codeOf(run: () => unknown): { code: IdxErrorCode; offset: number; message: string } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(IdxFormatError);
    const e = error as IdxFormatError;
    return { code: e.code, offset: e.offset, message: e.message };
  }
  throw new Error('expected an IdxFormatError');
}

describe('parseIdxImages', () => {
  it('should read the header and give a view of the pixels', () => {
    expect(Array.from(IMAGES.subarray(0, 4))).toEqual([0, 0, 8, 3]);
    const images = parseIdxImages(IMAGES);
    expect(images.count).toBe(2);
    expect(images.rows).toBe(2);
    expect(images.cols).toBe(3);
    expect(Array.from(images.pixels)).toEqual(Array.from(PIXELS));
  });

  it('should read a header written by hand, big-endian', () => {
    const bytes = Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 255, 9);
    const images = parseIdxImages(bytes);
    expect([images.count, images.rows, images.cols]).toEqual([1, 1, 2]);
    expect(Array.from(images.pixels)).toEqual([255, 9]);
  });

  it('should read a buffer that does not start at offset 0', () => {
    const padded = new Uint8Array(IMAGES.length + 5);
    padded.set(IMAGES, 5);
    expect(parseIdxImages(padded.subarray(5)).count).toBe(2);
  });

  const corrupt: [string, Uint8Array, IdxErrorCode, number][] = [
    ['empty', new Uint8Array(0), 'TOO_SHORT', 0],
    ['3 bytes', Uint8Array.of(0, 0, 8), 'TOO_SHORT', 3],
    ['bad magic (PNG)', Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0), 'BAD_MAGIC', 0],
    ['labels given as images', LABELS, 'BAD_NDIM', 3],
    ['float dtype', withByte(IMAGES, 2, 0x0d), 'BAD_DTYPE', 2],
    ['header cut in the dimensions', IMAGES.subarray(0, 10), 'TRUNCATED', 10],
    ['data cut short', IMAGES.subarray(0, IMAGES.length - 1), 'TRUNCATED', IMAGES.length - 1],
    ['trailing byte', Uint8Array.of(...IMAGES, 0), 'TRAILING_BYTES', IMAGES.length],
    ['zero rows', encodeIdx([2, 0, 3], new Uint8Array(0)), 'BAD_DIMS', 8],
    ['huge count', encodeIdx([0xffffffff, 28, 28], new Uint8Array(10)), 'TRUNCATED', 26],
    ['huge sides', encodeIdx([0, 100000, 100000], new Uint8Array(0)), 'BAD_DIMS', 8],
  ];
  for (const [name, bytes, code, offset] of corrupt) {
    it(`should reject ${name} with ${code}`, () => {
      const error = codeOf(() => parseIdxImages(bytes));
      expect(error.code).toBe(code);
      expect(error.offset).toBe(offset);
      expect(error.message).not.toContain('\n');
    });
  }

  it('should say how many bytes are declared and present when truncated', () => {
    expect(codeOf(() => parseIdxImages(IMAGES.subarray(0, 20))).message).toBe(
      'truncated: header declares 2×2×3 = 12 bytes of data, file has 4',
    );
  });
});

describe('parseIdxLabels', () => {
  it('should read labels', () => {
    const labels = parseIdxLabels(LABELS);
    expect(labels.count).toBe(2);
    expect(Array.from(labels.labels)).toEqual([7, 0]);
  });

  it('should reject a label of 10 or more, naming the example', () => {
    const error = codeOf(() => parseIdxLabels(encodeIdx([3], Uint8Array.of(1, 2, 10))));
    expect(error.code).toBe('BAD_LABEL');
    expect(error.offset).toBe(10);
    expect(error.message).toContain('example 2');
  });

  it('should accept labels below a larger class count', () => {
    expect(parseIdxLabels(encodeIdx([1], Uint8Array.of(25)), 26).labels[0]).toBe(25);
  });

  it('should reject images given as labels and trailing bytes', () => {
    expect(codeOf(() => parseIdxLabels(IMAGES)).code).toBe('BAD_NDIM');
    expect(codeOf(() => parseIdxLabels(Uint8Array.of(...LABELS, 3))).code).toBe('TRAILING_BYTES');
  });
});

describe('checkSameCount', () => {
  it('should accept matching counts and reject different ones', () => {
    expect(() => checkSameCount(parseIdxImages(IMAGES), parseIdxLabels(LABELS))).not.toThrow();
    const three = parseIdxLabels(encodeIdx([3], Uint8Array.of(1, 2, 3)));
    const error = codeOf(() => checkSameCount(parseIdxImages(IMAGES), three));
    expect(error.code).toBe('COUNT_MISMATCH');
    expect(error.message).toBe('2 images but 3 labels');
  });
});
