/** The limiters declared in `wrangler.toml` match the figures the 429 answers state. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  FINE_TUNE_RATE_LIMIT,
  FINE_TUNE_RATE_PERIOD_SECONDS,
  UPLOAD_RATE_LIMIT,
  UPLOAD_RATE_PERIOD_SECONDS,
} from '../../src/worker/rate-limit.ts';

function declared(name: string): [number, number] | null {
  const toml = readFileSync('wrangler.toml', 'utf8');
  const block = new RegExp(
    `\\[\\[ratelimits\\]\\]\\s*\\nname = "${name}"[\\s\\S]*?simple = \\{ limit = (\\d+), period = (\\d+) \\}`,
  ).exec(toml);
  return block ? [Number(block[1]), Number(block[2])] : null;
}

describe('rate limiters in wrangler.toml', () => {
  it('should declare the limit and period that rate-limit.ts reports', () => {
    expect(declared('FINE_TUNE_LIMITER')).toEqual([FINE_TUNE_RATE_LIMIT, FINE_TUNE_RATE_PERIOD_SECONDS]);
    expect(declared('UPLOAD_LIMITER')).toEqual([UPLOAD_RATE_LIMIT, UPLOAD_RATE_PERIOD_SECONDS]);
  });
});
