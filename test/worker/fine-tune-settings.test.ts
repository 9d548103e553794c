import { describe, expect, it } from 'vitest';
import { DEFAULT_UPDATE, workOf } from '../../src/nn/index.ts';
import { STEP_ROWS } from '../../src/nn/fine-tune-update.ts';
import { resolveFineTune } from '../../src/worker/fine-tune-settings.ts';

const limits = { maxWork: 2048, maxSteps: 100 };

describe('resolveFineTune', () => {
  it('should fit the defaults to the work ceiling for 256 examples (the call the old defaults refused)', () => {
    const r = resolveFineTune({}, 256, limits, true);
    expect(r.problems).toEqual([]);
    expect(r.settings.method).toBe('minibatch');
    expect(r.holdOut).toBeGreaterThan(0);
    expect(r.work).toBeLessThanOrEqual(2048);
    expect(r.work).toBe(workOf(r.settings, r.trainCount));
  });

  it('should fit the defaults to any ceiling at least as large as the examples', () => {
    for (const maxWork of [256, 500, 1000, 4096]) {
      for (const n of [1, 39, 40, 100, 256]) {
        if (n > maxWork) continue;
        const r = resolveFineTune({}, n, { maxWork, maxSteps: 100 }, true);
        expect(r.problems, `${n} examples, ceiling ${maxWork}`).toEqual([]);
      }
    }
  });

  it('should count a step of a small batch as STEP_ROWS rows, so small batches cannot buy many steps', () => {
    // A review: 256 examples, 8 epochs took 1.0 s at batch 16 and 8.5 s at batch 1 (the same 1,808 rows).
    const one = { ...DEFAULT_UPDATE, batchSize: 1, replay: 0 };
    expect(workOf(one, 256)).toBe(8 * 256 * STEP_ROWS);
    // Full batches of at least STEP_ROWS rows count their rows, as before.
    expect(workOf({ ...DEFAULT_UPDATE, replay: 0 }, 256)).toBe(8 * 256);
    expect(workOf(DEFAULT_UPDATE, 256)).toBe(8 * 256 * 2);
    const refused = resolveFineTune({ batchSize: 1, epochs: 8, replay: 0 }, 256, limits, true);
    expect(refused.problems.join(' ')).toMatch(/work .* is over the ceiling 2048/);
    // Left to choose its epochs, batch 1 fits the ceiling with fewer steps, or is refused when even one epoch
    // is over (256 steps cost 4,096).
    const fitted = resolveFineTune({ batchSize: 1, holdOut: 0 }, 100, limits, true);
    expect(fitted.problems).toEqual([]);
    expect(fitted.work).toBeLessThanOrEqual(2048);
    expect(fitted.settings.epochs * 100 * STEP_ROWS).toBeLessThanOrEqual(2048);
    expect(resolveFineTune({ batchSize: 1, holdOut: 0 }, 256, limits, true).problems).not.toEqual([]);
  });

  it('should keep the plain full-batch form for the older `steps` field and refuse it over the ceiling', () => {
    const ok = resolveFineTune({ steps: 8, learningRate: 0.1, holdOut: 0 }, 256, limits, true);
    expect(ok.settings).toMatchObject({
      method: 'full-batch',
      epochs: 8,
      momentum: 0,
      replay: 0,
      learningRate: 0.1,
    });
    expect(ok.work).toBe(2048);
    const over = resolveFineTune({ steps: 10, holdOut: 0 }, 256, limits, true);
    expect(over.problems.join()).toMatch(/2560 is over the ceiling 2048/);
  });

  it('should not use a replay set the model lacks, and refuse one asked for', () => {
    expect(resolveFineTune({}, 100, limits, false).settings.replay).toBe(0);
    expect(resolveFineTune({ replay: 1 }, 100, limits, false).problems.join()).toMatch(/replay set/);
  });

  it('should hold out a slice from 40 examples on unless told, and none below', () => {
    expect(resolveFineTune({}, 39, limits, true).holdOut).toBeNull();
    expect(resolveFineTune({}, 40, limits, true).holdOut).toBeGreaterThan(0);
    expect(resolveFineTune({ holdOut: 0 }, 200, limits, true).holdOut).toBeNull();
    expect(resolveFineTune({ holdOut: 0.3 }, 10, limits, true).holdOut).toBe(0.3);
  });

  it('should keep what the request chose and fill in the rest', () => {
    const r = resolveFineTune({ learningRate: 0.003, anchor: 2, epochs: 2 }, 64, limits, true);
    expect(r.settings).toMatchObject({ ...DEFAULT_UPDATE, learningRate: 0.003, anchor: 2, epochs: 2 });
    expect(resolveFineTune({ epochs: 101 }, 10, limits, true).problems.join()).toMatch(/at most 100 epochs/);
  });
});
