import { describe, expect, it } from 'vitest';
import {
  atMostPeersTime,
  describeReached,
  firstReached,
  peerRecipeTrainArgs,
  renderTimeToAccuracy,
  timeToAccuracyTarget,
  type AccuracyPoint,
  type Reached,
  type TimeToAccuracy,
  type TimeToAccuracyReport,
} from '../../scripts/lib/bench-accuracy.ts';
import type { PeerRecipe } from '../../scripts/lib/bench-peers.ts';
import { DEFAULTS, parseTrainArgs } from '../../scripts/lib/train-options.ts';

const point = (
  epoch: number,
  epochEnd: boolean,
  trainSeconds: number,
  testAccuracy: number,
): AccuracyPoint => ({
  epoch,
  epochEnd,
  trainSeconds,
  testAccuracy,
});
const POINTS = [
  point(0.25, false, 1, 0.95),
  point(0.5, false, 2, 0.981),
  point(1, true, 4, 0.979),
  point(2, true, 8, 0.9805),
  point(3, true, 12, 0.99),
];
const reached = (target: number, seconds: number | null): Reached => ({
  target,
  seconds,
  epoch: seconds === null ? null : seconds / 4,
});

describe('firstReached', () => {
  it('should take the first evaluation at or above the target, even one that a later one falls below', () => {
    expect(firstReached(POINTS, 0.98)).toEqual({ target: 0.98, seconds: 2, epoch: 0.5 });
    expect(firstReached(POINTS, 0.99)).toEqual({ target: 0.99, seconds: 12, epoch: 3 });
  });

  it('should skip evaluations inside an epoch when asked for epoch ends only', () => {
    expect(firstReached(POINTS, 0.98, true)).toEqual({ target: 0.98, seconds: 8, epoch: 2 });
  });

  it('should say never with nulls', () => {
    expect(firstReached(POINTS, 0.995)).toEqual({ target: 0.995, seconds: null, epoch: null });
    expect(firstReached([], 0.98)).toEqual({ target: 0.98, seconds: null, epoch: null });
  });
});

describe('describeReached', () => {
  it('should give the seconds and the epoch, or the epochs run when not reached', () => {
    expect(describeReached({ target: 0.98, seconds: 12.34, epoch: 4 }, 60)).toBe(
      '98% in 12.3 s (epoch 4.00)',
    );
    expect(describeReached({ target: 0.99, seconds: null, epoch: null }, 60)).toBe(
      '99% not reached in 60 epochs',
    );
    expect(describeReached({ target: 0.985, seconds: null, epoch: null }, 1)).toBe(
      '98.5% not reached in 1 epoch',
    );
  });
});

describe('atMostPeersTime', () => {
  it('should pass when ours is no later than the peer, and fail when later', () => {
    expect(atMostPeersTime(reached(0.98, 10), reached(0.98, 12))).toBe(true);
    expect(atMostPeersTime(reached(0.98, 12), reached(0.98, 12))).toBe(true);
    expect(atMostPeersTime(reached(0.98, 12.1), reached(0.98, 12))).toBe(false);
  });

  it('should pass when only ours reached the target and fail when only the peer did', () => {
    expect(atMostPeersTime(reached(0.98, 30), reached(0.98, null))).toBe(true);
    expect(atMostPeersTime(reached(0.98, null), reached(0.98, 5))).toBe(false);
  });

  it('should not decide when neither reached it or a side was not measured', () => {
    expect(atMostPeersTime(reached(0.98, null), reached(0.98, null))).toBeNull();
    expect(atMostPeersTime(reached(0.98, 3), null)).toBeNull();
    expect(atMostPeersTime(null, reached(0.98, 3))).toBeNull();
  });
});

const RECIPE: PeerRecipe = { epochs: 7, batch: 128, lr: 0.05, momentum: 0.9, valFrac: 0.05, seed: 1 };

describe('peerRecipeTrainArgs', () => {
  it("should give train.ts flags for the peer's recipe: nothing the peer lacks, the rest as given", () => {
    const o = parseTrainArgs(peerRecipeTrainArgs(RECIPE));
    expect(o).toMatchObject({ augment: false, preprocess: false, oe: 0, l1: 0, l2: 0 });
    expect(o).toMatchObject({ optimizer: 'sgd', init: 'he', lrSchedule: 'cosine', epochs: 7, batch: 128 });
    expect(o).toMatchObject({ lr: 0.05, momentum: 0.9, valFrac: 0.05, seed: 1 });
    expect(o.hidden).toEqual(DEFAULTS.hidden);
    expect(o.alpha).toBe(0.01);
  });

  it('should follow the recipe, not the defaults', () => {
    const o = parseTrainArgs(peerRecipeTrainArgs({ ...RECIPE, batch: 64, lr: 0.1, momentum: 0.5, seed: 3 }));
    expect(o).toMatchObject({ batch: 64, lr: 0.1, momentum: 0.5, seed: 3 });
  });
});

function run(reachedSeconds: (number | null)[], atEpochEnd: (number | null)[]): TimeToAccuracy {
  return {
    targets: [0.98, 0.99],
    kernels: 'wasm-test',
    recipe: 'a recipe',
    reached: [reached(0.98, reachedSeconds[0]), reached(0.99, reachedSeconds[1])],
    reachedAtEpochEnd: [reached(0.98, atEpochEnd[0]), reached(0.99, atEpochEnd[1])],
    epochs: 7,
    scheduledEpochs: 7,
    evalsPerEpoch: 4,
    bestAccuracy: 0.9885,
    points: [],
  };
}

function report(torch98: number | null, torchMissing = false): TimeToAccuracyReport {
  return {
    epochs: 7,
    defaultRecipe: run([20, 200], [24, 204]),
    peerRecipe: RECIPE,
    oursOnPeerRecipe: run([6, null], [8, null]),
    torchOnPeerRecipe: torchMissing
      ? null
      : {
          peer: 'torch',
          command: 'torch_mlp.py train …',
          trainCount: 57000,
          points: [],
          reached: [reached(0.98, torch98), reached(0.99, null)],
          epochs: 7,
          bestAccuracy: 0.986,
        },
    torchError: torchMissing ? 'skipped: --no-peers' : null,
  };
}

describe('timeToAccuracyTarget', () => {
  it("should compare ours at epoch ends with the peer's (also once per epoch), not ours within an epoch", () => {
    // Ours: 6 s at the first evaluation, 8 s at an epoch end; the peer 7 s: only the epoch ends count.
    expect(timeToAccuracyTarget(report(7)).ok).toBe(false);
    expect(timeToAccuracyTarget(report(8)).ok).toBe(true);
  });

  it('should report both targets of both recipes in its text', () => {
    const { text } = timeToAccuracyTarget(report(9));
    expect(text).toContain('ours 8.0 s vs PyTorch 9.0 s');
    expect(text).toContain('99%: ours not reached, PyTorch not reached (7 epochs)');
    expect(text).toContain('the default recipe: 98% 20.0 s, 99% 200.0 s');
  });

  it('should not decide without the peer or without the runs', () => {
    expect(timeToAccuracyTarget(report(null, true))).toMatchObject({ ok: null });
    expect(timeToAccuracyTarget(report(null, true)).text).toContain('PyTorch not measured');
    expect(timeToAccuracyTarget(null)).toMatchObject({ ok: null });
  });
});

describe('renderTimeToAccuracy', () => {
  it('should print one line per run, the missing peer with its reason, and what differs', () => {
    const lines = renderTimeToAccuracy(report(null, true));
    expect(lines[0]).toContain('7 epochs scheduled per run');
    expect(lines[1]).toContain(
      'default recipe, ours (wasm-test): 98% in 20.0 s (epoch 5.00), 99% in 200.0 s',
    );
    expect(lines[2]).toContain('at epoch ends: 98% in 8.0 s (epoch 2.00), 99% not reached in 7 epochs');
    expect(lines[3]).toBe('- peer recipe, PyTorch: not measured (skipped: --no-peers).');
    expect(lines[4]).toContain('Different:');
  });
});
