import { describe, expect, it } from 'vitest';
import { floatToHalfBits, halfBitsToFloat } from '../../src/format/index.ts';
import { seededRandom } from './fixtures.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (bits: number) => ((u32[0] = bits), f32[0]);
const hex = (bits: number) => `0x${bits.toString(16).padStart(4, '0')}`;
/** `[value, bits]` cases titled with the bits in hex. */
const titled = (cases: [number, number][]) => cases.map(([value, bits]) => ({ value, bits, hex: hex(bits) }));

/**
 * Independent reference: the nearest binary16 by binary search over the (monotonic) positive finite patterns
 * 0x0000…0x7bff, ties to the even pattern, and ±Inf from 65520 (halfway past 65504) up.
 */
function nearestHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (halfBitsToFloat(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  if (lo === 0x7bff) return sign | lo;
  const below = a - halfBitsToFloat(lo);
  const above = halfBitsToFloat(lo + 1) - a;
  return sign | (below < above || (below === above && lo % 2 === 0) ? lo : lo + 1);
}

describe('floatToHalfBits', () => {
  it.each(
    titled([
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [65519, 0x7bff], // below the halfway point to 65536
      [65520, 0x7c00], // halfway: ties to even, and the even neighbour is Inf
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [6.103515625e-5, 0x0400], // smallest normal
      [6.1e-5, 0x03ff], // just below it: the largest subnormal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even (0)
      [fromBits(0x33000001), 0x0001], // just above that halfway point
      [3 * 2 ** -25, 0x0002], // 1.5 subnormal steps: ties to even (2)
      [1023.5 * 2 ** -24, 0x0400], // halfway between the largest subnormal and the smallest normal
      [2 ** -26, 0x0000],
      [-(2 ** -26), 0x8000],
      [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01: even
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02: even
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above a tie
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [0, 0x0000],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ]),
  )('should convert $value to $hex', ({ value, bits }) => {
    expect(floatToHalfBits(value)).toBe(bits);
  });

  it('should keep NaN a NaN', () => {
    for (const nan of [NaN, fromBits(0x7f800001), fromBits(0xffc00000), fromBits(0x7fffffff)]) {
      const bits = floatToHalfBits(nan);
      expect(bits & 0x7c00).toBe(0x7c00);
      expect(bits & 0x3ff).not.toBe(0);
    }
  });

  it('should match the reference on random float32 patterns and on every tie', () => {
    const random = seededRandom(3);
    const wrong: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Exponents spread over the interesting range (subnormal half … overflow) plus some anywhere.
      const bits =
        i % 4 === 0
          ? (random() * 2 ** 32) >>> 0
          : ((random() * 2 ** 32) & 0x807fffff) | ((90 + ((random() * 60) | 0)) << 23);
      const x = fromBits(bits >>> 0);
      if (!Number.isNaN(x) && floatToHalfBits(x) !== nearestHalf(x)) wrong.push(`float32 ${hex(bits >>> 0)}`);
    }
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (halfBitsToFloat(h) + halfBitsToFloat(h + 1)) / 2; // exact in float32
      const even = h % 2 === 0 ? h : h + 1;
      if (floatToHalfBits(mid) !== even || floatToHalfBits(-mid) !== (0x8000 | even))
        wrong.push(`tie above ${hex(h)}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('halfBitsToFloat', () => {
  it.each(
    titled([
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [2 ** -14, 0x0400],
      [1023 * 2 ** -24, 0x03ff],
      [2 ** -24, 0x0001],
      [0.333251953125, 0x3555],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ]),
  )('should convert $hex to $value', ({ bits, value }) => {
    expect(halfBitsToFloat(bits)).toBe(value);
  });

  it('should give NaN for NaN patterns and -0 for 0x8000', () => {
    expect(halfBitsToFloat(0x7e00)).toBeNaN();
    expect(halfBitsToFloat(0xfc01)).toBeNaN();
    expect(Object.is(halfBitsToFloat(0x8000), -0)).toBe(true);
  });

  it('should round-trip every non-NaN pattern exactly', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue;
      const value = halfBitsToFloat(h);
      if (Math.fround(value) !== value || floatToHalfBits(value) !== h) wrong.push(hex(h));
    }
    expect(wrong).toEqual([]);
  });
});
