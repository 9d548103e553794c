import { describe, expect, it } from 'vitest';
import { softmaxCrossEntropy, UNIFORM_TARGET } from '../../src/nn/index.ts';

/** The cross-entropy to uniform of one row, and its gradient, written out from the definition. */
function reference(z: number[]): { loss: number; grad: number[] } {
  const max = Math.max(...z);
  const sum = z.reduce((s, v) => s + Math.exp(v - max), 0);
  const p = z.map((v) => Math.exp(v - max) / sum);
  const loss = -z.reduce((s, v) => s + (v - max - Math.log(sum)), 0) / z.length;
  return { loss, grad: p.map((v) => v - 1 / z.length) };
}

describe('softmaxCrossEntropy with UNIFORM_TARGET', () => {
  const logits = [2, -1, 0.5, 3, 0, 0, 1, -2, 0.25, 4];
  const digitRow = [0, 0, 0, 0, 0, 0, 0, 5, 0, 0];

  it('should take the uniform distribution as the target of that row, and leave labelled rows as they were', () => {
    const both = Float32Array.from([...logits, ...digitRow]);
    const dlogits = new Float32Array(20);
    const r = softmaxCrossEntropy(dlogits, both, [UNIFORM_TARGET, 7], 2, 10);
    const alone = new Float32Array(10);
    const digit = softmaxCrossEntropy(alone, Float32Array.from(digitRow), [7], 1, 10);
    const ref = reference(logits);
    expect(r.loss).toBeCloseTo((ref.loss + digit.loss) / 2, 5);
    ref.grad.forEach((g, j) => expect(dlogits[j]).toBeCloseTo(g / 2, 6));
    alone.forEach((g, j) => expect(dlogits[10 + j]).toBeCloseTo(g / 2, 6));
    // The digit row is right; the uniform row never counts, even though its argmax is some class.
    expect(r.correct).toBe(1);
  });

  it('should give zero gradient and loss log(classes) on a row that is already uniform', () => {
    const dlogits = new Float32Array(10);
    const r = softmaxCrossEntropy(dlogits, new Float32Array(10).fill(1.5), [UNIFORM_TARGET], 1, 10);
    expect(r.loss).toBeCloseTo(Math.log(10), 6);
    dlogits.forEach((g) => expect(Math.abs(g)).toBeLessThan(1e-7));
  });
});
