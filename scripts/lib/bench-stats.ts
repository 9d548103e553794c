/**
 * @module
 * Timing helpers for `npm run bench`: wall and process-CPU clocks, medians, and a repeat loop that records
 * both clocks per repeat. No measuring of anything in particular here.
 */

/** One measurement's wall and CPU milliseconds (CPU: user + system of the whole process, all its threads). */
export interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** This process's CPU time in milliseconds, every thread included. */
export function cpuNowMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Wall and CPU time of one call of `fn`. */
export function timeOnce(fn: () => void): Timing {
  const c0 = cpuNowMs();
  const t0 = performance.now();
  fn();
  return { wallMs: performance.now() - t0, cpuMs: cpuNowMs() - c0 };
}

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs `fn` `repeats` times (after one warm-up call) and returns the median wall and CPU milliseconds. */
export function medianTiming(fn: () => void, repeats: number): Timing {
  fn();
  const runs = Array.from({ length: repeats }, () => timeOnce(fn));
  return { wallMs: median(runs.map((r) => r.wallMs)), cpuMs: median(runs.map((r) => r.cpuMs)) };
}

/**
 * Per-call latency of a fast function, as the peers measure it: the median over `reps` individually timed
 * calls (wall clock; a single call is too short for the CPU clock's resolution).
 */
export function medianLatencyUs(fn: () => void, reps: number, warmup = 200): number {
  for (let i = 0; i < warmup; i++) fn();
  const times = new Float64Array(reps);
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times[i] = performance.now() - t0;
  }
  return median(Array.from(times)) * 1000;
}
