/**
 * The feedback rules as pure functions: caps, duplicates, the review check of a batch, the steps of an apply.
 */
import { describe, expect, it } from 'vitest';
import { admit, inkOf, review } from '../../src/worker/writer/policy.ts';

const caps = { perClient: 3, perLabel: 5 };

/** [n×10] probabilities with `p` on `digit[i]` and the rest spread evenly. */
function probs(digits: number[], p: number[]): Float32Array {
  const out = new Float32Array(digits.length * 10);
  digits.forEach((d, i) => {
    for (let j = 0; j < 10; j++) out[i * 10 + j] = j === d ? p[i] : (1 - p[i]) / 9;
  });
  return out;
}

describe('admit', () => {
  it('should store a correction under both caps', () => {
    expect(admit(7, { client: 2, label: 4, duplicate: null }, caps)).toBeNull();
  });

  it('should refuse a duplicate first, with 409, telling only its sender that it is stored', () => {
    const copy = { id: 12, label: 7, status: 'pending' };
    const mine = admit(7, { client: 9, label: 9, duplicate: { ...copy, sameClient: true } }, caps);
    expect(mine).toMatchObject({
      status: 409,
      code: 'duplicate_feedback',
      details: { id: 12, sameClient: true },
    });
    expect(mine!.message).toMatch(/stored as #12/);
    const theirs = admit(7, { client: 0, label: 0, duplicate: { ...copy, sameClient: false } }, caps);
    expect(theirs).toMatchObject({ status: 409, code: 'duplicate_feedback', details: { sameClient: false } });
    expect(JSON.stringify(theirs)).not.toMatch(/12/);
  });

  it('should refuse at the per-client cap, then at the per-label cap, with 429', () => {
    expect(admit(7, { client: 3, label: 0, duplicate: null }, caps)).toMatchObject({
      status: 429,
      code: 'client_pending_cap',
      details: { pending: 3, max: 3 },
    });
    expect(admit(7, { client: 0, label: 5, duplicate: null }, caps)).toMatchObject({
      status: 429,
      code: 'label_pending_cap',
      details: { label: 7, max: 5 },
    });
  });
});

describe('review', () => {
  const policy = { confident: 0.9, maxDisagreement: 0.5 };

  it('should count only labels that contradict a confident prediction', () => {
    // Item 0 agrees, item 1 contradicts a confident answer, item 2 contradicts an unsure one.
    const r = review([3, 4, 5], probs([3, 1, 2], [0.99, 0.95, 0.6]), 3, policy);
    expect(r.disagreeing).toBe(1);
    expect(r.indices).toEqual([1]);
    expect(r.byLabel).toEqual({ '4': 1 });
    expect(r.share).toBeCloseTo(1 / 3);
    expect(r.hold).toBe(false);
  });

  it('should hold a batch past the share, and pass one exactly at it', () => {
    const flipped = review([0, 0, 0, 0], probs([1, 1, 0, 0], [0.99, 0.99, 0.99, 0.99]), 4, policy);
    expect(flipped.share).toBe(0.5);
    expect(flipped.hold).toBe(false);
    const more = review([0, 0, 0, 0], probs([1, 1, 1, 0], [0.99, 0.99, 0.99, 0.99]), 4, policy);
    expect(more.hold).toBe(true);
    expect(more.byLabel).toEqual({ '0': 3 });
  });

  it('should never hold with a limit of 1 and always with confident 0 and limit 0 on a wrong batch', () => {
    const p = probs([1, 2], [0.999, 0.999]);
    expect(review([0, 0], p, 2, { confident: 0.5, maxDisagreement: 1 }).hold).toBe(false);
    expect(review([0, 0], p, 2, { confident: 0, maxDisagreement: 0 }).hold).toBe(true);
  });
});

describe('inkOf', () => {
  it('should sum the ink of an image', () => {
    expect(inkOf(new Float32Array(784))).toBe(0);
    expect(inkOf([0.5, 0.25, 0.25])).toBe(1);
  });
});
