import { describe, expect, it } from 'vitest';
import { CheckSetError, decodeCheckSet, encodeCheckSet } from '../../src/format/check-set.ts';

describe('check set', () => {
  const pixels = Uint8Array.from({ length: 3 * 784 }, (_, i) => (i * 7) % 256);
  const labels = Uint8Array.from([0, 9, 4]);

  it('should round-trip pixels (scaled to [0,1]) and labels', () => {
    const bytes = encodeCheckSet(pixels, labels);
    expect(bytes.length).toBe(8 + 3 * 784 + 3);
    const set = decodeCheckSet(bytes);
    expect(set.count).toBe(3);
    expect([...set.labels]).toEqual([0, 9, 4]);
    expect(set.images[785]).toBeCloseTo(pixels[785] / 255, 7);
  });

  const good = encodeCheckSet(pixels, labels);
  const corrupt: [string, Uint8Array, RegExp][] = [
    ['an empty buffer', new Uint8Array(0), /truncated/],
    ['a bad magic', Uint8Array.from(good, (b, i) => (i === 0 ? 0x58 : b)), /magic/],
    ['a truncated body', good.slice(0, good.length - 1), /must be/],
    ['a trailing byte', Uint8Array.from([...good, 0]), /must be/],
    ['a label of 10', Uint8Array.from(good, (b, i) => (i === good.length - 1 ? 10 : b)), /not a digit/],
    ['a count of 0', Uint8Array.from(good, (b, i) => (i >= 4 && i < 8 ? 0 : b)), /out of range/],
  ];
  for (const [what, bytes, message] of corrupt) {
    it(`should reject ${what}`, () => {
      expect(() => decodeCheckSet(bytes)).toThrowError(CheckSetError);
      expect(() => decodeCheckSet(bytes)).toThrowError(message);
    });
  }

  it('should refuse to encode mismatched sizes', () => {
    expect(() => encodeCheckSet(pixels.slice(1), labels)).toThrowError(/pixel bytes/);
  });
});
