import { describe, expect, it } from 'vitest';
import { quantizeRows, roundHalfEven } from '../../src/format/index.ts';
import { seededRandom } from './fixtures.ts';

describe('roundHalfEven', () => {
  it.each([
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [-0.5, -0],
    [-1.5, -2],
    [-2.5, -2],
    [2.4999, 2],
    [-3.5001, -4],
    [126.5, 126],
    [127, 127],
  ])('should round %d to %d', (x, expected) => {
    expect(roundHalfEven(x)).toBe(expected);
  });
});

describe('quantizeRows', () => {
  it('should use one scale per row, max|row|/127, ties to even', () => {
    const weight = Float32Array.of(
      127,
      2.5,
      -2.5,
      3.5,
      /* row 1 */ 0,
      0,
      0,
      0,
      /* row 2 */ -0.5,
      0.25,
      0,
      0.125,
    );
    const { q, scale } = quantizeRows(weight, 3, 4);
    expect(Array.from(scale)).toEqual([1, 0, Math.fround(0.5 / 127)]);
    expect(Array.from(q)).toEqual([127, 2, -2, 4, 0, 0, 0, 0, -127, 64, 0, 32]);
  });

  it('should keep every error within scale/2 and q within [-127, 127]', () => {
    const random = seededRandom(11);
    const [rows, cols] = [37, 53];
    const weight = new Float32Array(rows * cols).map(() => (random() - 0.5) * 10 ** (random() * 6 - 4));
    const { q, scale } = quantizeRows(weight, rows, cols);
    for (let r = 0; r < rows; r++) {
      let max = 0;
      for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(weight[r * cols + c]));
      expect(scale[r]).toBe(Math.fround(max / 127));
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        expect(Math.abs(q[i])).toBeLessThanOrEqual(127);
        expect(q[i]).toBe(Math.max(-127, Math.min(127, roundHalfEven(weight[i] / scale[r]))) || 0);
        expect(Math.abs(weight[i] - q[i] * scale[r])).toBeLessThanOrEqual((scale[r] / 2) * (1 + 1e-6));
      }
    }
  });

  it('should give a non-finite scale for a row holding NaN or Inf, so the encoder refuses it', () => {
    const { scale } = quantizeRows(Float32Array.of(NaN, 1, 2, Infinity), 2, 2);
    expect(scale[0]).toBeNaN();
    expect(scale[1]).toBe(Infinity);
  });

  it('should refuse a weight of the wrong length', () => {
    expect(() => quantizeRows(new Float32Array(5), 2, 3)).toThrow(RangeError);
  });
});
