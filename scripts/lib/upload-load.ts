/**
 * @module
 * The upload load of issue #11, for `npm run loadtest -- --uploads`: a fifth client's `/predict` latency at rest,
 * then while four clients send the most expensive accepted upload back to back, twice: each attacker from one
 * address (the per-address `UPLOAD_LIMITER` answers 429 past 30 per 10 s), and each request from a fresh address
 * (a distributed attacker, which a per-address limit never stops: what protects `/predict` then is what an upload
 * costs). Locally every connection comes from 127.0.0.1 and `wrangler dev` keeps a `CF-Connecting-IP` the client
 * sent, so the clients name their addresses in that header; Cloudflare sets it from the real address in
 * production, where a client cannot choose it. The four attackers run in a worker thread of their own
 * (`upload-attackers.ts`), so the fifth client's timings are not also the attackers' client-side work. Not the
 * JSON/fine-tune load (`scripts/loadtest.ts`).
 */
import { startAttack } from './upload-attackers.ts';
import { hostilePngCases, type HostileCase } from './hostile-corpus.ts';
import { loadavg } from 'node:os';
import { cpuMsOf, workerdPids } from './process-stats.ts';

export interface UploadLoadOptions {
  url: string;
  /** A `/predict` JSON body the fifth client sends (one image). */
  probeBody: string;
  /** Requests the fifth client sends in each phase, one at a time. */
  probeRequests: number;
  attackers: number;
  /** The server's workerd pids, to report their CPU use per phase (empty: not reported). */
  workerdPids: number[];
}

export interface PhaseResult {
  name: string;
  probe: { count: number; p50: number; p99: number; max: number; failures: number };
  /** Attack requests by status ('error' when the request itself failed). */
  attacks: Record<string, number>;
  seconds: number;
  /** workerd CPU over the phase as a share of one core (NaN when not measured). */
  workerdCpuShare: number;
}

export interface UploadLoadReport {
  /** The upload chosen as the most expensive accepted one, and its measured cost alone. */
  upload: { name: string; bytes: number; medianWallMs: number; cpuMsPerRequest: number };
  /** Every accepted candidate's median wall time and workerd CPU per request alone (ms); CPU is the basis of the choice. */
  candidates: { name: string; medianWallMs: number; cpuMsPerRequest: number }[];
  phases: PhaseResult[];
}

interface Ranked {
  c: HostileCase;
  wall: number;
  /** workerd CPU ms per request (NaN when not measured). */
  cpu: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function send(url: string, upload: HostileCase, ip: string): Promise<string> {
  try {
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'Content-Type': upload.contentType, 'CF-Connecting-IP': ip },
      body: upload.body,
    });
    await res.arrayBuffer();
    return String(res.status);
  } catch {
    return 'error';
  }
}

let fresh = 0;
/** A new address each call, in 10.200.0.0/16: a distributed attacker's next machine. */
const freshAddress = () => `10.200.${(fresh >> 8) & 255}.${fresh++ & 255}`;

/**
 * The accepted `max-*` uploads of the hostile corpus, each sent `repeats` times alone from fresh addresses
 * (so no limit answers), costliest first: by workerd CPU per request when its pids are known (what an upload
 * takes from everyone else), else by median wall time alone.
 */
async function rankUploads(url: string, repeats: number, pids: number[]): Promise<Ranked[]> {
  const ranked: Ranked[] = [];
  for (const c of hostilePngCases().filter((k) => k.name.startsWith('max-') && k.status === 200)) {
    for (let i = 0; i < 3; i++) await send(url, c, freshAddress());
    const times: number[] = [];
    const cpu0 = cpuMsOf(pids);
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      const status = await send(url, c, freshAddress());
      if (status !== '200') throw new Error(`${c.name} answered ${status}, not 200`);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const cpu = pids.length ? (cpuMsOf(pids) - cpu0) / repeats : NaN;
    ranked.push({ c, wall: times[times.length >> 1], cpu });
  }
  return ranked.sort((a, b) => (pids.length ? b.cpu - a.cpu : b.wall - a.wall));
}

/** The fifth client: `count` `/predict` requests one after another, each timed. */
async function probe(url: string, body: string, count: number): Promise<PhaseResult['probe']> {
  const times: number[] = [];
  let failures = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    try {
      const res = await fetch(`${url}/predict`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': '10.100.0.5' },
        body,
      });
      await res.arrayBuffer();
      if (res.status !== 200) failures++;
    } catch {
      failures++;
    }
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    count,
    p50: round(percentile(times, 50)),
    p99: round(percentile(times, 99)),
    max: round(times[times.length - 1]),
    failures,
  };
}

/** One phase: the probe while `attackers` clients (none for the phase at rest) send `upload` back to back. */
async function phase(
  name: string,
  options: UploadLoadOptions,
  upload: HostileCase,
  attackers: number,
  addresses: 'fixed' | 'fresh',
  prefix: string,
): Promise<PhaseResult> {
  const cpu0 = cpuMsOf(options.workerdPids);
  const t0 = performance.now();
  const attack = attackers ? await startAttack(options.url, upload, attackers, addresses, prefix) : null;
  // Let the attack reach its steady state before the probe starts.
  if (attack) await new Promise((r) => setTimeout(r, 1000));
  const result = await probe(options.url, options.probeBody, options.probeRequests);
  const attacks = attack ? await attack.stop() : {};
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuMsOf(options.workerdPids) - cpu0;
  return {
    name,
    probe: result,
    attacks,
    seconds,
    workerdCpuShare: options.workerdPids.length ? cpu / 1000 / seconds : NaN,
  };
}

/** The whole measurement: the costliest accepted upload chosen, then the three phases. */
export async function runUploadLoad(options: UploadLoadOptions): Promise<UploadLoadReport> {
  const ranked = await rankUploads(options.url, 15, options.workerdPids);
  const upload = ranked[0].c;
  // Its CPU alone, from /proc: 20 requests back to back from fresh addresses.
  const cpu0 = cpuMsOf(options.workerdPids);
  for (let i = 0; i < 20; i++) await send(options.url, upload, freshAddress());
  const cpuMsPerRequest = options.workerdPids.length ? (cpuMsOf(options.workerdPids) - cpu0) / 20 : NaN;
  // Warm the probe's path too.
  await probe(options.url, options.probeBody, 50);
  const phases = [
    await phase('at rest', options, upload, 0, 'fixed', ''),
    // 10.150.0.1-4: one address per attacker; 10.201.x.y: a fresh one per request (ranking used 10.200.x.y).
    await phase(
      '4 attackers, one address each (limited)',
      options,
      upload,
      options.attackers,
      'fixed',
      '10.150',
    ),
    await phase(
      '4 attackers, a fresh address per request',
      options,
      upload,
      options.attackers,
      'fresh',
      '10.201',
    ),
  ];
  return {
    upload: { name: upload.name, bytes: upload.body.length, medianWallMs: ranked[0].wall, cpuMsPerRequest },
    candidates: ranked.map((r) => ({
      name: r.c.name,
      medianWallMs: Math.round(r.wall * 10) / 10,
      cpuMsPerRequest: Math.round(r.cpu * 10) / 10,
    })),
    phases,
  };
}

/** The report as Markdown rows, with the target's ratio (loaded p99 / p99 at rest, at most 3). */
export function formatUploadLoad(report: UploadLoadReport): string {
  const rest = report.phases[0].probe.p99;
  const lines = [
    `most expensive accepted upload: ${report.upload.name} (${report.upload.bytes} bytes), ` +
      `${report.upload.medianWallMs.toFixed(1)} ms wall alone (median), ` +
      `${report.upload.cpuMsPerRequest.toFixed(1)} ms workerd CPU per request alone`,
    `candidates (workerd CPU ms per request / median wall ms, alone): ${report.candidates.map((c) => `${c.name} ${c.cpuMsPerRequest}/${c.medianWallMs}`).join(', ')}`,
    '',
    '| phase | probe requests | probe p50 ms | probe p99 ms | p99 / at rest | probe max ms | probe failures | attack answers | attacks/s | workerd CPU (cores) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
  ];
  for (const p of report.phases) {
    const total = Object.values(p.attacks).reduce((a, n) => a + n, 0);
    const codes = Object.entries(p.attacks)
      .map(([code, n]) => `${code}×${n}`)
      .join(' ');
    lines.push(
      `| ${p.name} | ${p.probe.count} | ${p.probe.p50} | ${p.probe.p99} | ${(p.probe.p99 / rest).toFixed(2)} | ` +
        `${p.probe.max} | ${p.probe.failures} | ${codes || '—'} | ${(total / p.seconds).toFixed(1)} | ` +
        `${p.workerdCpuShare.toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * Runs the measurement against `server` (its workerd CPU too when `pgid` is known) and prints it with the load
 * average before and after. Resolves to false when a probe request failed or an attack got a 5xx.
 */
export async function printUploadLoad(
  server: { url: string; pgid?: number; problems(): string[] },
  probeBody: string,
  probeRequests: number,
): Promise<boolean> {
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `loadtest --uploads against ${server.url} at ${new Date().toISOString()}; load average ${load()}`,
  );
  const report = await runUploadLoad({
    url: server.url,
    probeBody,
    probeRequests,
    attackers: 4,
    workerdPids: server.pgid ? workerdPids(server.pgid) : [],
  });
  console.log(`\n${formatUploadLoad(report)}\n\nload average at the end ${load()}`);
  const problems = server.problems();
  if (problems.length)
    console.log(`server log, warnings and errors (first 15):\n${problems.slice(0, 15).join('\n')}`);
  return !report.phases.some(
    (p) => p.probe.failures > 0 || Object.keys(p.attacks).some((s) => s.startsWith('5') || s === 'error'),
  );
}
