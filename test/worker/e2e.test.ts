/**
 * End to end, as a user runs it: `npm start` on a fresh local bucket (a temp `--persist-to`), then HTTP requests.
 * Uses the committed `models/default.bin` (E2E_MODEL overrides it) and checks the accuracy in its card.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIdxImages, parseIdxLabels } from '../../src/data/idx.ts';
import { decodeModel } from '../../src/format/index.ts';
import { IDX_FILES, MNIST_DIR, readMaybeGzip } from '../../scripts/lib/dataset.ts';
import { startLocalServer, type LocalServer } from '../../scripts/lib/local-server.ts';

const MODEL = process.env.E2E_MODEL ?? 'models/default.bin';
let server: LocalServer;
let base = '';

beforeAll(async () => {
  server = await startLocalServer({ model: process.env.E2E_MODEL });
  base = server.url;
}, 250_000);

afterAll(() => server?.stop());

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
