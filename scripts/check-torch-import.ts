/**
 * @module
 * `npm run check:torch-import [-- --epochs N]`: the whole PyTorch round, as a user does it. The PyTorch peer
 * (../shared/peers/torch_mlp.py) trains the network on all 60,000 MNIST training images and saves its state dict
 * as safetensors; `npm run import` makes the blob; the product (`scripts/start.ts`, wrangler dev with a local
 * bucket seeded by publish-model) serves it; all 10,000 MNIST test images go through `POST /predict`, and the
 * served accuracy must be PyTorch's within 0.1 point. Minutes, not seconds (the test suite runs a short version).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { startLocalServer } from './lib/local-server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = '/usr/bin/python3';
const BATCH = 256;

async function main(): Promise<number> {
  const epochs = process.argv.includes('--epochs') ? process.argv[process.argv.indexOf('--epochs') + 1] : '1';
  const work = mkdtempSync(join(tmpdir(), 'edge-mlp-torch-check-'));
  const file = join(work, 'torch.safetensors');
  const blob = join(work, 'torch.bin');
  try {
    console.log(`check: training the PyTorch peer (${epochs} epoch(s), 60,000 images)…`);
    const trained = JSON.parse(
      execFileSync(PYTHON, ['scripts/peers/train_torch_safetensors.py', file, '--epochs', epochs], {
        cwd: ROOT,
        encoding: 'utf8',
      }),
    ) as { test_accuracy: number; train_seconds: number };
    console.log(`check: PyTorch test accuracy ${trained.test_accuracy} after ${trained.train_seconds} s`);
    execFileSync('npx', ['tsx', 'scripts/import.ts', file, '--out', blob], { cwd: ROOT, stdio: 'inherit' });
    const blobBytes = readFileSync(blob).length;

    const server = await startLocalServer({ command: ['npx', 'tsx', 'scripts/start.ts'], model: blob });
    let correct = 0;
    const { test } = loadDataset(MNIST_DIR, { limit: 1 });
    try {
      for (let start = 0; start < test.count; start += BATCH) {
        const n = Math.min(BATCH, test.count - start);
        const images = Array.from({ length: n }, (_, i) =>
          Array.from(test.images.subarray((start + i) * 784, (start + i + 1) * 784), (v) => v),
        );
        const response = await fetch(`${server.url}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ pixelScale: '0-1', images }),
        });
        if (response.status !== 200)
          throw new Error(`/predict answered ${response.status}: ${await response.text()}`);
        const { predictions } = (await response.json()) as { predictions: { digit: number }[] };
        predictions.forEach((p, i) => {
          if (p.digit === test.labels[start + i]) correct++;
        });
      }
    } finally {
      await server.stop();
    }
    const served = correct / test.count;
    const gap = Math.abs(served - trained.test_accuracy);
    console.log(
      `check: served over HTTP ${(served * 100).toFixed(2)}% on ${test.count} images (blob ${blobBytes} bytes), ` +
        `PyTorch ${(trained.test_accuracy * 100).toFixed(2)}%: ${gap <= 0.001 ? 'within' : 'NOT within'} 0.1 point`,
    );
    return gap <= 0.001 ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (status) => process.exit(status),
  (error: Error) => {
    console.error(`check: ${error.message}`);
    process.exit(1);
  },
);
