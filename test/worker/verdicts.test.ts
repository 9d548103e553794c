import { describe, expect, it } from 'vitest';
import { defaultMinConfidence, temperatureOf, toVerdictPredictions } from '../../src/worker/verdicts.ts';

const row = (k: number, p: number) => Array.from({ length: 10 }, (_, j) => (j === k ? p : (1 - p) / 9));

describe('toVerdictPredictions', () => {
  it('should judge each row at the threshold, name blank rows blank, and calibrate the probabilities', () => {
    const probs = Float32Array.from([...row(3, 0.97), ...row(5, 0.8), ...row(1, 0.99), ...row(0, 0.1)]);
    const out = toVerdictPredictions(probs, 4, {
      temperature: 1,
      minConfidence: 0.9,
      blank: [false, false, true, false],
    });
    expect(out.map((p) => p.verdict)).toEqual(['confident', 'uncertain', 'blank', 'not_a_digit']);
    expect(out[0]).toMatchObject({ digit: 3 });
    expect(out[2]).toEqual({ verdict: 'blank', digit: null, confidence: null, probabilities: null });
    expect(out[1].probabilities).toHaveLength(10);
    // A lower threshold accepts the 0.8; a temperature above 1 softens the 0.97 under 0.9.
    const again = toVerdictPredictions(Float32Array.from(row(5, 0.8)), 1, {
      temperature: 1,
      minConfidence: 0.75,
    });
    expect(again[0].verdict).toBe('confident');
    const soft = toVerdictPredictions(Float32Array.from(row(3, 0.97)), 1, {
      temperature: 3,
      minConfidence: 0.9,
    });
    expect(soft[0].confidence!).toBeLessThan(0.9);
    expect(soft[0].verdict).not.toBe('confident');
  });
});

describe('configuration', () => {
  it('should read the temperature from the metadata, 1 without one', () => {
    expect(temperatureOf({ dataset: 'mnist', createdAt: 'x' })).toBe(1);
    expect(temperatureOf({ dataset: 'mnist', createdAt: 'x', calibration: { temperature: 0.6 } })).toBe(0.6);
  });

  it('should take MIN_CONFIDENCE in (0, 1], else the built-in 0.9', () => {
    expect(defaultMinConfidence('0.95')).toBe(0.95);
    expect(defaultMinConfidence('1')).toBe(1);
    for (const bad of [undefined, '', '0', '1.5', 'x']) expect(defaultMinConfidence(bad)).toBe(0.9);
  });
});
