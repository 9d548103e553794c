import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../src/data/verdict.ts';
import { ECE_METRIC, flaggedMetric } from '../../scripts/lib/robustness.ts';

/** One row of probabilities per entry: `top` on `digit`, the rest spread evenly. */
function rows(entries: { digit: number; top: number }[]): Float32Array {
  const probs = new Float32Array(entries.length * 10);
  entries.forEach(({ digit, top }, i) => {
    for (let j = 0; j < 10; j++) probs[i * 10 + j] = j === digit ? top : (1 - top) / 9;
  });
  return probs;
}

describe('robustness row metrics', () => {
  it('should count uncertain, not-a-digit and refused pictures as flagged, and score only the accepted ones', () => {
    const probs = rows([
      { digit: 3, top: 0.99 }, // confident, right
      { digit: 5, top: 0.99 }, // confident, wrong (label 6)
      { digit: 1, top: 0.6 }, // uncertain
      { digit: 2, top: 0.2 }, // not a digit
      { digit: 7, top: 0.99 }, // refused (blank): not answered
    ]);
    const labels = Uint8Array.from([3, 6, 1, 2, 7]);
    const answered = [true, true, true, true, false];
    expect(flaggedMetric(DEFAULT_POLICY).compute(probs, labels, answered)).toBe('60.00% (50.00%)');
    expect(flaggedMetric(DEFAULT_POLICY).compute(probs, null, answered)).toBe('60.00%');
  });

  it('should give the calibration error of the answered pictures only', () => {
    // Two answered pictures at 0.99, one right and one wrong: |0.99 - 0.5| in their one bin.
    const probs = rows([
      { digit: 3, top: 0.99 },
      { digit: 5, top: 0.99 },
      { digit: 7, top: 0.99 },
    ]);
    const labels = Uint8Array.from([3, 6, 0]);
    expect(ECE_METRIC.compute(probs, labels, [true, true, false])).toBe('49.00%');
    expect(ECE_METRIC.compute(probs, null, [true, true, true])).toBe('–');
  });
});
