import { describe, expect, it } from 'vitest';
import { createNormal, createRng } from '../../src/nn/index.ts';
import {
  atTemperature,
  calibrate,
  expectedCalibrationError,
  fitTemperature,
  negativeLogLikelihood,
} from '../../scripts/lib/calibrate.ts';
import { atDigitsFlagged, auroc, negativeEnergy, topTwoMass } from '../../scripts/lib/ood-metrics.ts';

/** Samples whose labels really are drawn from softmax(z / trueT): a calibrator should find trueT. */
function overconfident(count: number, trueT: number, seed = 1) {
  const rng = createRng(seed);
  const normal = createNormal(rng);
  const probs = new Float32Array(count * 10);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const z = Array.from({ length: 10 }, (_, j) => normal() * 2 + (j === i % 10 ? 6 : 0));
    const softmax = (t: number) => {
      const s = z.reduce((a, v) => a + Math.exp(v / t), 0);
      return z.map((v) => Math.exp(v / t) / s);
    };
    probs.set(softmax(1), i * 10);
    const truth = softmax(trueT);
    let u = rng();
    let label = 0;
    while (label < 9 && u >= truth[label]) u -= truth[label++];
    labels[i] = label;
  }
  return { probs, labels };
}

describe('temperature scaling', () => {
  it('should recover the temperature the labels were drawn at, and lower NLL and ECE', () => {
    const { probs, labels } = overconfident(6000, 2);
    const t = fitTemperature(probs, labels);
    expect(t).toBeGreaterThan(1.8);
    expect(t).toBeLessThan(2.2);
    const report = calibrate(probs, labels);
    expect(report.validation.nllAfter).toBeLessThan(report.validation.nllBefore);
    expect(report.validation.eceAfter).toBeLessThan(report.validation.eceBefore / 2);
  });

  it('should find about 1 for probabilities that are already calibrated', () => {
    const { probs, labels } = overconfident(6000, 1, 2);
    expect(Math.abs(fitTemperature(probs, labels) - 1)).toBeLessThan(0.1);
  });
});

describe('expectedCalibrationError', () => {
  it('should be |confidence − accuracy| for one bin, weighted over bins', () => {
    // Two rows at 0.95 confidence, one right: bin 15 has accuracy 0.5, confidence 0.95.
    const row = (k: number, p: number) => Array.from({ length: 10 }, (_, j) => (j === k ? p : (1 - p) / 9));
    const probs = Float32Array.from([...row(1, 0.95), ...row(2, 0.95)]);
    expect(expectedCalibrationError(probs, [1, 3])).toBeCloseTo(0.45, 5);
    // Add two rows at 0.55 (bin 9), both right: (2·0.45 + 2·0.45) / 4.
    const more = Float32Array.from([...probs, ...row(4, 0.55), ...row(5, 0.55)]);
    expect(expectedCalibrationError(more, [1, 3, 4, 5])).toBeCloseTo(0.45, 5);
    expect(negativeLogLikelihood(probs, [1, 1])).toBeCloseTo((-Math.log(0.95) - Math.log(0.05 / 9)) / 2, 5);
  });

  it('should leave atTemperature(p, 1) as it is', () => {
    const { probs } = overconfident(10, 1);
    expect(atTemperature(probs, 1)).toEqual(probs);
  });
});

describe('OOD scores', () => {
  it('AUROC should be 1 for separated scores, 0.5 for identical ones, and count ties half', () => {
    expect(auroc([3, 4, 5], [0, 1, 2])).toBe(1);
    expect(auroc([0, 1], [2, 3])).toBe(0);
    expect(auroc([1, 1], [1, 1])).toBe(0.5);
    expect(auroc([2, 1], [1, 0])).toBeCloseTo((1 + 1 + 0.5 + 1) / 4, 10);
  });

  it('should compute top-two mass and log-sum-exp of logits', () => {
    const p = Float32Array.from([0.5, 0.3, 0.1, 0.1, 0, 0, 0, 0, 0, 0]);
    expect(topTwoMass(p)[0]).toBeCloseTo(0.8, 6);
    const z = Float32Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, Math.log(91)]);
    expect(negativeEnergy(z)[0]).toBeCloseTo(Math.log(100), 5);
  });

  it('atDigitsFlagged should flag exactly the share of digits asked for and report the rows under it', () => {
    // Ten digits scored 0.1 … 1.0; the two lowest are the only wrong ones.
    const digits = Array.from({ length: 10 }, (_, i) => (i + 1) / 10);
    const labels = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
    const predicted = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const rows = [
      [0.05, 0.15, 0.25, 0.95],
      [0.9, 0.95],
    ];
    const at = atDigitsFlagged(0.2, digits, rows, labels, predicted);
    expect(at.threshold).toBeCloseTo(0.3, 10);
    expect(at.rows).toEqual([0.75, 0]);
    expect(at.acceptedAccuracy).toBe(1);
    const none = atDigitsFlagged(0, digits, rows, labels, predicted);
    expect(none.rows).toEqual([0.25, 0]); // under the lowest digit
    expect(none.acceptedAccuracy).toBeCloseTo(0.8, 10);
    expect(atDigitsFlagged(0.2, digits, rows).acceptedAccuracy).toBeNull();
  });
});
