import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/nn/rng.ts';
import {
  checkFigures,
  guardVerdict,
  heldOutHelped,
  holdOutSplit,
  HoldOutError,
  type CheckFigures,
  type GuardBounds,
} from '../../src/worker/lineage-guard.ts';

const bounds: GuardBounds = {
  maxDrop: 0.02,
  maxClassDrop: 0.05,
  maxLineageDrop: 0.03,
  maxLineageClassDrop: 0.08,
};

/** Figures of 10 classes × 100 images with per-class accuracies `perClass`. */
function figures(perClass: number[]): CheckFigures {
  const labels: number[] = [];
  const predicted: number[] = [];
  perClass.forEach((a, c) => {
    for (let i = 0; i < 100; i++) {
      labels.push(c);
      predicted.push(i < Math.round(a * 100) ? c : (c + 1) % 10);
    }
  });
  return checkFigures(predicted, labels, labels.length);
}
const all = (a: number) => figures(new Array(10).fill(a));

describe('checkFigures', () => {
  it('should count overall and per-class accuracy, null for an absent class', () => {
    const f = checkFigures([0, 1, 1, 2], [0, 1, 2, 2], 4, 4);
    expect(f).toEqual({ count: 4, accuracy: 0.75, perClass: [1, 1, 0.5, null] });
  });
});

describe('guardVerdict', () => {
  it('should pass a child within every bound and report each check', () => {
    const v = guardVerdict({ parent: all(0.99), root: all(0.99), child: all(0.98), heldOut: null, bounds });
    expect(v.passed).toBe(true);
    expect(v.checks.map((c) => c.name)).toEqual(['parent', 'parent-class', 'root', 'root-class']);
    expect(v.reasons).toEqual([]);
  });

  it('should pass a drop of exactly the bound despite float rounding', () => {
    const v = guardVerdict({ parent: all(0.99), root: all(0.99), child: all(0.97), heldOut: null, bounds });
    expect(v.checks[0].drop).toBeCloseTo(0.02, 12);
    expect(v.passed).toBe(true);
  });

  it('should refuse a step under the per-call bound that takes the lineage past its total bound', () => {
    // Parent already 2 points below the root; this child loses 1.5 more: fine against the parent, not the root.
    const v = guardVerdict({ parent: all(0.97), root: all(0.99), child: all(0.95), heldOut: null, bounds });
    expect(v.passed).toBe(false);
    expect(v.checks.find((c) => c.name === 'parent')!.passed).toBe(true);
    const root = v.checks.find((c) => c.name === 'root')!;
    expect(root).toMatchObject({ passed: false, reference: 0.99, child: 0.95 });
    expect(v.reasons.join()).toMatch(/lineage root/);
  });

  it('should refuse one class collapsing while the overall figure stays within bounds', () => {
    const child = figures([0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.9]);
    const v = guardVerdict({ parent: all(0.99), root: all(0.99), child, heldOut: null, bounds });
    expect(v.checks.find((c) => c.name === 'parent')!.passed).toBe(true);
    const perClass = v.checks.find((c) => c.name === 'parent-class')!;
    expect(perClass).toMatchObject({ passed: false, class: 9 });
    expect(v.reasons.join()).toMatch(/digit 9/);
  });

  it('should need the held-out slice to improve when one was taken', () => {
    const same = { loss: 0.5, accuracy: 0.8 };
    const base = { parent: all(0.99), root: all(0.99), child: all(0.99), bounds };
    const better = guardVerdict({
      ...base,
      heldOut: { count: 50, parent: same, child: { loss: 0.4, accuracy: 0.9 } },
    });
    expect(better.passed).toBe(true);
    const worse = guardVerdict({
      ...base,
      heldOut: { count: 50, parent: same, child: { loss: 0.6, accuracy: 0.78 } },
    });
    expect(worse.passed).toBe(false);
    expect(worse.reasons[0]).toMatch(/held-out/);
    expect(heldOutHelped({ count: 5, parent: same, child: { loss: 0.45, accuracy: 0.8 } })).toBe(true);
    expect(heldOutHelped({ count: 5, parent: same, child: { loss: 0.55, accuracy: 0.8 } })).toBe(false);
  });
});

describe('holdOutSplit', () => {
  it('should hold out about the fraction of every class, never a whole class, disjoint and complete', () => {
    const labels = Array.from({ length: 103 }, (_, i) => (i < 100 ? i % 10 : 3));
    const { train, held } = holdOutSplit(labels, 103, 0.2, createRng(1));
    expect(new Set([...train, ...held]).size).toBe(103);
    expect(held.length).toBeGreaterThanOrEqual(20);
    for (let c = 0; c < 10; c++) {
      expect(held.some((i) => labels[i] === c)).toBe(true);
      expect(train.some((i) => labels[i] === c)).toBe(true);
    }
  });

  it('should refuse an empty or single-class set, with a reason', () => {
    expect(() => holdOutSplit([], 0, 0.2, createRng(1))).toThrow(HoldOutError);
    expect(() => holdOutSplit([4, 4, 4, 4], 4, 0.2, createRng(1))).toThrow(/two classes/);
    expect(() => holdOutSplit([1, 2], 2, 0.2, createRng(1))).toThrow(/none can be held out/);
  });
});
