/**
 * @module
 * The attacking clients of the upload load (`upload-load.ts`): `attackers` loops sending one upload back to back
 * from a worker thread of their own. Not the probe or the report.
 */
import { Worker } from 'node:worker_threads';
import type { HostileCase } from './hostile-corpus.ts';

/**
 * The attackers' loop, run in a worker thread of its own: four clients are not the fifth client, and in one event
 * loop the probe's timings would include the attackers' own work of sending ~200 bodies of 208 KB a second (a
 * client-side cost no server change can remove). The thread gets the upload's bytes, sends it from `attackers`
 * concurrent loops until told to stop, and answers with the statuses it got.
 */
const ATTACK_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, contentType, body, attackers, addresses, prefix } = workerData;
let running = true;
let fresh = 0;
const attacks = {};
const address = (c) =>
  addresses === 'fixed' ? prefix + '.0.' + (c + 1) : prefix + '.' + ((fresh >> 8) & 255) + '.' + (fresh++ & 255);
async function send(ip) {
  try {
    const res = await fetch(url + '/predict', {
      method: 'POST',
      headers: { 'Content-Type': contentType, 'CF-Connecting-IP': ip },
      body,
    });
    await res.arrayBuffer();
    return String(res.status);
  } catch {
    return 'error';
  }
}
async function attack(c) {
  while (running) {
    const status = await send(address(c));
    attacks[status] = (attacks[status] || 0) + 1;
  }
}
const loops = Array.from({ length: attackers }, (_, c) => attack(c));
parentPort.postMessage('started');
parentPort.once('message', async () => {
  running = false;
  await Promise.all(loops);
  parentPort.postMessage(attacks);
});
`;

/** Starts `attackers` clients in their own thread; `stop()` ends them and resolves to their answers by status. */
export async function startAttack(
  url: string,
  upload: HostileCase,
  attackers: number,
  addresses: 'fixed' | 'fresh',
  prefix: string,
): Promise<{ stop(): Promise<Record<string, number>> }> {
  const thread = new Worker(ATTACK_THREAD, {
    eval: true,
    workerData: { url, contentType: upload.contentType, body: upload.body, attackers, addresses, prefix },
  });
  await new Promise<void>((resolve, reject) => {
    thread.once('message', () => resolve());
    thread.once('error', reject);
  });
  return {
    async stop() {
      const answers = new Promise<Record<string, number>>((resolve, reject) => {
        thread.once('message', resolve);
        thread.once('error', reject);
      });
      thread.postMessage('stop');
      const attacks = await answers;
      await thread.terminate();
      return attacks;
    },
  };
}
