/**
 * @module
 * The hostile corpus against a real `wrangler dev` (the committed default model, local R2): every case sent
 * twice to warm up, then `repeats` times back to back, the workerd processes' CPU per request (from `/proc`, so 10 ms ticks over the
 * whole run, divided by its count) and their peak resident memory (VmHWM) against where it was after a warm-up.
 * Used by `npm run bench:uploads -- --worker`; not a test (the workerd test checks statuses and storage).
 */
import { hostileCorpus } from './hostile-corpus.ts';
import { startLocalServer } from './local-server.ts';
import { cpuMsOf, memoryOf, workerdPids } from './process-stats.ts';

export interface WorkerUploadRow {
  name: string;
  bytes: number;
  expected: number;
  statuses: number[];
  cpuMsPerRequest: number;
  wallMsPerRequest: number;
  /** Peak RSS after this case minus the RSS after the warm-up. */
  peakGrowthBytes: number;
}

let client = 0;
async function send(url: string, contentType: string, body: Uint8Array): Promise<number> {
  const res = await fetch(`${url}/predict`, {
    method: 'POST',
    // A fresh address each time: a per-client upload limit must not answer in the decoder's place.
    headers: {
      'Content-Type': contentType,
      'CF-Connecting-IP': `10.9.${(client >> 8) & 255}.${client++ & 255}`,
    },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

/** Runs the corpus through a fresh local server and returns one row per case, in corpus order. */
export async function benchWorkerUploads(repeats: number, only = ''): Promise<WorkerUploadRow[]> {
  const server = await startLocalServer({ command: ['node_modules/.bin/tsx', 'scripts/start.ts'] });
  try {
    const pids = workerdPids(server.pgid);
    if (pids.length === 0) throw new Error('no workerd process found in the server process group');
    const corpus = hostileCorpus();
    const warm = corpus.find((c) => c.name === 'valid-gray8-28x28')!;
    for (let i = 0; i < 20; i++) await send(server.url, warm.contentType, warm.body);
    const baseline = memoryOf(pids).rss;
    const rows: WorkerUploadRow[] = [];
    for (const c of corpus.filter((k) => k.name.includes(only))) {
      // Two unmeasured sends first: the figures are of a warm isolate, as a busy worker's are.
      for (let i = 0; i < 2; i++) await send(server.url, c.contentType, c.body);
      const statuses: number[] = [];
      const cpu0 = cpuMsOf(pids);
      const t0 = performance.now();
      for (let i = 0; i < repeats; i++) statuses.push(await send(server.url, c.contentType, c.body));
      rows.push({
        name: c.name,
        bytes: c.body.length,
        expected: c.status,
        statuses,
        cpuMsPerRequest: (cpuMsOf(pids) - cpu0) / repeats,
        wallMsPerRequest: (performance.now() - t0) / repeats,
        peakGrowthBytes: memoryOf(pids).peak - baseline,
      });
    }
    return rows;
  } finally {
    await server.stop();
  }
}
