/** The limiter declared in `wrangler.toml` matches the figures the 429 answer states. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FINE_TUNE_RATE_LIMIT, FINE_TUNE_RATE_PERIOD_SECONDS } from '../../src/worker/rate-limit.ts';

describe('FINE_TUNE_LIMITER in wrangler.toml', () => {
  it('should declare the limit and period that rate-limit.ts reports', () => {
    const toml = readFileSync('wrangler.toml', 'utf8');
    const block =
      /\[\[ratelimits\]\]\s*\nname = "FINE_TUNE_LIMITER"[\s\S]*?simple = \{ limit = (\d+), period = (\d+) \}/.exec(
        toml,
      );
    expect(block).not.toBeNull();
    expect(Number(block![1])).toBe(FINE_TUNE_RATE_LIMIT);
    expect(Number(block![2])).toBe(FINE_TUNE_RATE_PERIOD_SECONDS);
  });
});
