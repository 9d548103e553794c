import { describe, expect, it } from 'vitest';
import { median, medianLatencyUs, medianTiming, timeOnce } from '../../scripts/lib/bench-stats.ts';

describe('median', () => {
  it('should take the middle value, or the mean of the middle two, whatever the order', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('should refuse an empty list', () => {
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('timeOnce', () => {
  it('should count the CPU time of a busy loop and at least as much wall time', () => {
    const t = timeOnce(() => {
      const end = performance.now() + 30;
      while (performance.now() < end);
    });
    expect(t.wallMs).toBeGreaterThanOrEqual(30);
    expect(t.cpuMs).toBeGreaterThan(5);
  });
});

describe('medianTiming and medianLatencyUs', () => {
  it('should call the function once per repeat after a warm-up', () => {
    let calls = 0;
    medianTiming(() => calls++, 5);
    expect(calls).toBe(6);
    calls = 0;
    const us = medianLatencyUs(() => calls++, 100, 10);
    expect(calls).toBe(110);
    expect(us).toBeGreaterThanOrEqual(0);
    expect(us).toBeLessThan(1000);
  });
});
