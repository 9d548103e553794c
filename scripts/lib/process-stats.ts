/**
 * @module
 * CPU time and resident memory of a local server's workerd processes, read from `/proc` (Linux): the only honest
 * view of a request's cost, since workerd's own clocks stop while a request runs. Not a server (see
 * `local-server.ts`).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ; 100 on Linux). */
const TICK = 100;

/** The pids of the workerd processes in process group `pgid`. */
export function workerdPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const dir of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${dir}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After comm: state(0) ppid(1) pgrp(2) …
    if (Number(fields[2]) === pgid && comm.includes('workerd')) pids.push(Number(dir));
  }
  return pids;
}

/** utime + stime of the processes, in ms (10 ms resolution: divide a run of many requests by their count). */
export function cpuMsOf(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return (ticks * 1000) / TICK;
}

/** Resident memory now (VmRSS) and at its peak so far (VmHWM), in bytes, summed over the processes. */
export function memoryOf(pids: readonly number[]): { rss: number; peak: number } {
  let rss = 0;
  let peak = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      peak += Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // exited
    }
  }
  return { rss, peak };
}
