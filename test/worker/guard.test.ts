import { describe, expect, it } from 'vitest';
import { guardVerdict } from '../../src/worker/guard.ts';

const base = { checkSet: 'checksets/x.bin', size: 500, maxDrop: 0.02 };

describe('guardVerdict', () => {
  it('should pass a child that is better, equal, or within the margin', () => {
    expect(guardVerdict({ ...base, parentAccuracy: 0.9, accuracy: 0.95 }).passed).toBe(true);
    expect(guardVerdict({ ...base, parentAccuracy: 0.9, accuracy: 0.9 }).passed).toBe(true);
    expect(guardVerdict({ ...base, parentAccuracy: 0.9, accuracy: 0.89 }).passed).toBe(true);
  });

  it('should pass a drop of exactly the margin despite float rounding', () => {
    // 0.93 - 0.91 is 0.020000000000000018 in binary floating point.
    expect(guardVerdict({ ...base, parentAccuracy: 0.93, accuracy: 0.91 }).passed).toBe(true);
    expect(
      guardVerdict({ ...base, size: 100, maxDrop: 0.01, parentAccuracy: 0.57, accuracy: 0.56 }).passed,
    ).toBe(true);
  });

  it('should refuse a drop past the margin, and a margin of 0 any drop', () => {
    expect(guardVerdict({ ...base, parentAccuracy: 0.93, accuracy: 0.908 }).passed).toBe(false);
    expect(guardVerdict({ ...base, maxDrop: 0, parentAccuracy: 0.93, accuracy: 0.928 }).passed).toBe(false);
    expect(guardVerdict({ ...base, maxDrop: 0, parentAccuracy: 0.93, accuracy: 0.93 }).passed).toBe(true);
  });

  it('should refuse an accuracy that is not a number', () => {
    expect(guardVerdict({ ...base, parentAccuracy: 0.9, accuracy: NaN }).passed).toBe(false);
  });

  it('should report its inputs with the verdict', () => {
    expect(guardVerdict({ ...base, parentAccuracy: 0.9, accuracy: 0.5 })).toEqual({
      ...base,
      parentAccuracy: 0.9,
      accuracy: 0.5,
      passed: false,
    });
  });
});
