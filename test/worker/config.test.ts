/**
 * The configured limits agree with the defaults: whatever `FINE_TUNE_MAX_WORK` and `FINE_TUNE_MAX_EXAMPLES` (and
 * their apply counterparts) say, a request of the most examples the limits allow, with the default settings, is
 * one the settings resolver accepts (the defaults fit the work to the ceiling down to one epoch).
 */
import { describe, expect, it } from 'vitest';
import { STEP_ROWS } from '../../src/nn/fine-tune-update.ts';
import { readConfig, type Bindings } from '../../src/worker/config.ts';
import { resolveFineTune } from '../../src/worker/fine-tune-settings.ts';
import { APPLY_REPLAY, readFeedbackSettings } from '../../src/worker/writer/settings.ts';

const envOf = (vars: Record<string, string>) => vars as unknown as Bindings;
const WORKS = ['1', '39', '100', '255', '256', '2048', '25600'];
const EXAMPLES = ['1', '40', '100', '256'];

describe('readConfig', () => {
  it('should never allow more examples than the defaults can train within the work ceiling', () => {
    for (const work of WORKS) {
      for (const examples of EXAMPLES) {
        const cfg = readConfig(envOf({ FINE_TUNE_MAX_WORK: work, FINE_TUNE_MAX_EXAMPLES: examples }));
        // A ceiling under one step's cost is raised to it.
        expect(cfg.fineTuneMaxWork).toBe(Math.max(STEP_ROWS, Number(work)));
        expect(cfg.fineTuneMaxExamples).toBe(Math.min(cfg.fineTuneMaxWork, Number(examples)));
        const limits = { maxWork: cfg.fineTuneMaxWork, maxSteps: cfg.fineTuneMaxSteps };
        for (const ask of [{}, { holdOut: 0 }, { method: 'full-batch' as const }]) {
          for (const replay of [true, false]) {
            const r = resolveFineTune(ask, cfg.fineTuneMaxExamples, limits, replay);
            expect(r.problems, `work ${work}, examples ${examples}, ${JSON.stringify(ask)}`).toEqual([]);
            expect(r.work).toBeLessThanOrEqual(cfg.fineTuneMaxWork);
          }
        }
      }
    }
  });

  it('should keep the documented defaults (256 examples, work 2048)', () => {
    const cfg = readConfig(envOf({}));
    expect(cfg.fineTuneMaxExamples).toBe(256);
    expect(cfg.fineTuneMaxWork).toBe(2048);
  });
});

describe('readFeedbackSettings', () => {
  it('should never take more corrections into one apply than its work ceiling can train', () => {
    for (const work of ['1', '100', '1000', '8192']) {
      for (const examples of ['1', '500', '1024']) {
        const s = readFeedbackSettings(
          envOf({ FEEDBACK_APPLY_MAX_WORK: work, FEEDBACK_APPLY_MAX_EXAMPLES: examples }),
        );
        expect(s.applyMaxWork).toBe(Math.max(STEP_ROWS, Number(work)));
        expect(s.applyMaxExamples).toBe(Math.min(s.applyMaxWork, Number(examples)));
        // What an apply asks for (apply.ts): stored inputs as they are, replay when the model has a set.
        const r = resolveFineTune(
          { preprocess: false, replay: APPLY_REPLAY },
          s.applyMaxExamples,
          { maxWork: s.applyMaxWork, maxSteps: 100 },
          true,
        );
        expect(r.problems, `work ${work}, examples ${examples}`).toEqual([]);
      }
    }
  });
});
