/** The limiters declared in `wrangler.toml` match the figures the 429 answers state. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  clientAddress,
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

describe('clientAddress', () => {
  it('should count an IPv6 address as its /64 and an IPv4 address whole', () => {
    const net = '2001:db8:0:12::/64';
    for (const ip of [
      '2001:db8:0:12::1',
      '2001:0DB8:0000:0012:ffff:1:2:3',
      '2001:db8::12:0:0:0:9',
      '2001:db8:0:12::fe%eth0',
    ])
      expect(clientAddress(ip), ip).toBe(net);
    expect(clientAddress('2001:db8:0:13::1')).toBe('2001:db8:0:13::/64');
    expect(clientAddress('::1')).toBe('0:0:0:0::/64');
    expect(clientAddress('64:ff9b::1.2.3.4')).toBe('64:ff9b:0:0::/64');
    expect(clientAddress('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('should leave what is not an address as it is', () => {
    for (const ip of ['unknown', '1::2::3', '1:2:3', 'zz::1', '1:2:3:4:5:6:7:8:9'])
      expect(clientAddress(ip)).toBe(ip);
  });
});
