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
  it('should count the CPU and the wall time spent in the call, however the process is scheduled', () => {
    const t = timeOnce(() => {
      // Busy until 20 ms of this process's CPU and 20 ms of wall time have passed (a loaded machine only
      // makes it take longer): the figures may not be less.
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      const cpu = () => {
        const u = process.cpuUsage(c0);
        return (u.user + u.system) / 1000;
      };
      while (cpu() < 20 || performance.now() - w0 < 20);
    });
    expect(t.cpuMs).toBeGreaterThanOrEqual(20);
    expect(t.wallMs).toBeGreaterThanOrEqual(20);
  });

  it('should tell wall time from CPU time: a thread asleep for 30 ms spends less CPU than wall time', () => {
    const t = timeOnce(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30));
    expect(t.wallMs).toBeGreaterThanOrEqual(29); // the sleep's clock and performance.now() may differ by a hair
    expect(t.cpuMs).toBeLessThan(t.wallMs);
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
