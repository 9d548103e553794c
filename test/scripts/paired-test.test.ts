import { describe, expect, it } from 'vitest';
import { binomialTwoSided, mcnemar } from '../../scripts/lib/paired-test.ts';

describe("McNemar's exact test", () => {
  it('counts only the images where exactly one model is right', () => {
    const first = [1, 1, 0, 0, 1, 0, 1, 1];
    const second = [1, 0, 1, 1, 1, 0, 1, 1];
    expect(mcnemar(first, second)).toMatchObject({ gained: 2, lost: 1 });
  });

  it('gives the binomial p-values worked out by hand', () => {
    // 3 against 1 of 4 discordant: 2 · (1 + 4) / 16.
    expect(binomialTwoSided(1, 4)).toBeCloseTo(0.625, 12);
    // 0 against 6: 2 / 64.
    expect(binomialTwoSided(0, 6)).toBeCloseTo(2 / 64, 12);
    // An even split, and no discordant pair at all, say nothing: p = 1.
    expect(binomialTwoSided(5, 10)).toBe(1);
    expect(binomialTwoSided(0, 0)).toBe(1);
  });

  it('stays finite and exact for large counts (log space)', () => {
    // 900 against 1100 of 2000: z ≈ 4.47, two-sided p ≈ 8e-6 by the normal approximation.
    const p = binomialTwoSided(900, 2000);
    expect(p).toBeGreaterThan(1e-6);
    expect(p).toBeLessThan(2e-5);
    expect(binomialTwoSided(1000, 2000)).toBe(1);
  });

  it('refuses two lists of different lengths', () => {
    expect(() => mcnemar([1, 0], [1])).toThrow(RangeError);
  });
});
