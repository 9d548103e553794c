/**
 * End to end, as a user runs it: `npm start` on a fresh local bucket (a temp `--persist-to`), then HTTP requests.
 * Uses the committed `models/default.bin` (E2E_MODEL overrides it) and checks the accuracy in its card.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIdxImages, parseIdxLabels } from '../../src/data/idx.ts';
import { decodeModel } from '../../src/format/index.ts';
import { IDX_FILES, MNIST_DIR, readMaybeGzip } from '../../scripts/lib/dataset.ts';

const MODEL = process.env.E2E_MODEL ?? 'models/default.bin';
const STARTUP_MS = 240_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

let server: ChildProcess;
let base = '';
let log = '';
const persistTo = mkdtempSync(join(tmpdir(), 'edge-mlp-e2e-'));

async function waitForHealth(deadline: number): Promise<Response> {
  for (;;) {
    if (server.exitCode !== null)
      throw new Error(`npm start exited with ${server.exitCode}:\n${log.slice(-3000)}`);
    try {
      const res = await fetch(`${base}/health`);
      if (res.status === 200) return res;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`server not healthy after ${STARTUP_MS} ms:\n${log.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const args = ['start', '--', '--port', String(port), '--persist-to', persistTo];
  if (process.env.E2E_MODEL) args.push('--model', MODEL);
  // Its own process group, so the whole tree (npm, tsx, wrangler, workerd) is stopped together.
  server = spawn('npm', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (d) => (log += d));
  server.stderr!.on('data', (d) => (log += d));
  await waitForHealth(Date.now() + STARTUP_MS);
}, STARTUP_MS + 10_000);

afterAll(async () => {
  if (server?.pid && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    process.kill(-server.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (server.exitCode === null) process.kill(-server.pid, 'SIGKILL');
  }
  rmSync(persistTo, { recursive: true, force: true });
});

async function predict(body: unknown): Promise<Response> {
  return fetch(`${base}/predict`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('npm start (end to end over HTTP)', () => {
  const images = parseIdxImages(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testImages)));
  const labels = parseIdxLabels(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testLabels))).labels;
  const image = (i: number) => Array.from(images.pixels.subarray(i * 784, (i + 1) * 784));

  it('should seed the default model and serve it', async () => {
    const health = (await (await fetch(`${base}/health`)).json()) as { status: string; modelVersion: string };
    expect(health.status).toBe('ok');
    const info = (await (await fetch(`${base}/model`)).json()) as {
      version: string;
      sizes: number[];
      history: unknown[];
    };
    expect(info.version).toBe(health.modelVersion);
    expect(info.sizes).toEqual(decodeModel(new Uint8Array(readFileSync(MODEL))).sizes);
    expect(info.history).toHaveLength(1);
  });

  it('should predict one image with all ten probabilities', async () => {
    const res = await predict({ pixelScale: '0-255', image: image(0) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { digit: number; probabilities: number[]; modelVersion: string };
    expect(body.digit).toBe(labels[0]);
    expect(body.probabilities).toHaveLength(10);
  });

  it('should match the model card accuracy on the 10k MNIST test set', async () => {
    const card = decodeModel(new Uint8Array(readFileSync(MODEL))).metadata.testAccuracy;
    expect(typeof card).toBe('number');
    const batch = 256;
    let correct = 0;
    const started = performance.now();
    for (let start = 0; start < images.count; start += batch) {
      const n = Math.min(batch, images.count - start);
      const res = await predict({
        pixelScale: '0-255',
        images: Array.from({ length: n }, (_, i) => image(start + i)),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { predictions: { digit: number }[] };
      body.predictions.forEach((p, i) => (correct += p.digit === labels[start + i] ? 1 : 0));
    }
    const seconds = (performance.now() - started) / 1000;
    const accuracy = correct / images.count;
    console.log(
      `e2e: accuracy over HTTP ${(accuracy * 100).toFixed(2)}% (card ${((card as number) * 100).toFixed(2)}%), ` +
        `${images.count} images in ${seconds.toFixed(1)} s (${Math.round(images.count / seconds)} images/s, batches of ${batch})`,
    );
    // The same int8/f16/f32 weights and preprocessing as the card's measurement: equal up to float summation order.
    expect(Math.abs(accuracy - (card as number))).toBeLessThanOrEqual(0.0005);
  }, 600_000);
});
