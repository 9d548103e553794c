import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeIdx } from '../../src/data/idx.ts';
import { decodeModel, preparationOf } from '../../src/format/index.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createPredictor } from '../../src/nn/index.ts';
import { prepareExamples } from '../../scripts/lib/batches.ts';
import { IDX_FILES, loadDataset, MNIST_DIR } from '../../scripts/lib/dataset.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/train.ts');
/** One process (not the tsx launcher, which relays signals through a second one), so SIGINT reaches the script. */
const NODE_ARGS = ['--import', 'tsx'];
const work = mkdtempSync(join(tmpdir(), 'edge-mlp-train-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A small, seeded run on the pure TS kernels: a few seconds. */
const SMALL = [
  '--backend',
  'ts',
  '--limit',
  '1000',
  '--epochs',
  '3',
  '--batch',
  '32',
  '--hidden',
  '32',
  '--seed',
  '7',
];

function train(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [...NODE_ARGS, SCRIPT, ...args],
      { cwd: ROOT, timeout: 50_000 },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ status, stdout, stderr });
      },
    );
  });
}

/** Test accuracy of a blob on MNIST's test set as /predict would prepare it for this model (preprocessed by default). */
function testAccuracyOf(blob: Uint8Array): number {
  const model = decodeModel(blob);
  const raw = loadDataset(MNIST_DIR, { limit: 1 }).test;
  const preparation = preparationOf(model.metadata);
  const test = preparation ? prepareExamples(raw, preparation) : raw;
  const predictor = createPredictor(model, createTsKernels());
  const probs = predictor.predict(test.images, test.count);
  let correct = 0;
  for (let i = 0; i < test.count; i++) {
    const row = Array.from(probs.subarray(i * 10, i * 10 + 10));
    if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
  }
  return correct / test.count;
}

describe('scripts/train.ts', () => {
  it('should train on MNIST and write a decodable blob and a card, far above chance', async () => {
    const out = join(work, 'small', 'mnist-small.bin');
    const run = await train([...SMALL, '--encoding', 'int8', '--target', '60', '--out', out]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^epoch 1\/3 {2}loss \d\.\d{4} \+ penalty \d\.\d{4} {2}train [\d.]+% {2}val [\d.]+%/m,
    );
    expect(run.stdout).toContain(`wrote ${out}`);

    const blob = new Uint8Array(readFileSync(out));
    const model = decodeModel(blob);
    expect(model.sizes).toEqual([784, 32, 10]);
    expect(model.encoding).toBe('int8');
    expect(model.metadata.dataset).toBe('mnist');
    expect(model.metadata.testAccuracy).toBeGreaterThan(0.6);
    expect(model.metadata.validationAccuracy).toBeGreaterThan(0.5);
    const training = model.metadata.training as Record<string, unknown>;
    expect(training).toMatchObject({
      // 950 MNIST digits and, in proportion, 100 typed ones (6,000 per 57,000).
      trainCount: 1050,
      typed: 100,
      validationCount: 50,
      testCount: 10000,
      lr: 0.05,
      seed: 7,
    });
    expect(training.command).toBe(
      `npx tsx scripts/train.ts ${[...SMALL, '--encoding', 'int8', '--target', '60', '--out', out].join(' ')}`,
    );
    // The stored accuracy is the blob's own, as the Worker's predictor computes it.
    expect(testAccuracyOf(blob)).toBe(model.metadata.testAccuracy);

    const card = readFileSync(join(work, 'small', 'mnist-small.card.md'), 'utf8');
    const shown = ((model.metadata.testAccuracy as number) * 100).toFixed(2);
    expect(card).toContain(`| Test accuracy | **${shown}%** as stored (int8); f32 `);
    expect(card).toContain('784 → 32 → 10');
  });

  it('should give the same model for the same seed', async () => {
    const a = join(work, 'a.bin');
    const b = join(work, 'b.bin');
    const args = [
      '--backend',
      'ts',
      '--limit',
      '300',
      '--epochs',
      '1',
      '--hidden',
      '16',
      '--augment',
      '--quiet',
      '--encoding',
      'f32',
    ];
    const [ra, rb] = await Promise.all([train([...args, '--out', a]), train([...args, '--out', b])]);
    expect([ra.status, rb.status]).toEqual([0, 0]);
    expect(ra.stdout.split('\n').filter(Boolean)).toHaveLength(1); // --quiet: the summary only
    expect(decodeModel(new Uint8Array(readFileSync(a))).params).toEqual(
      decodeModel(new Uint8Array(readFileSync(b))).params,
    );
  });

  it('should exit 3 when test accuracy is below --target, still writing the model', async () => {
    const out = join(work, 'low.bin');
    const run = await train([
      '--backend',
      'ts',
      '--limit',
      '100',
      '--epochs',
      '1',
      '--hidden',
      '8',
      '--quiet',
      '--target',
      '0.99',
      '--out',
      out,
    ]);
    expect(run.status).toBe(3);
    expect(run.stderr).toMatch(/^train: test accuracy [\d.]+% is below the target 99.00%\n$/);
    expect(existsSync(out)).toBe(true);
  });

  it('should stop on Ctrl-C after the current batch and write the best epoch so far', async () => {
    const out = join(work, 'interrupted.bin');
    const child = spawn(
      process.execPath,
      [
        ...NODE_ARGS,
        SCRIPT,
        '--backend',
        'ts',
        '--limit',
        '2000',
        '--epochs',
        '200',
        '--hidden',
        '16',
        '--out',
        out,
      ],
      {
        cwd: ROOT,
      },
    );
    let stdout = '';
    let sent = false;
    const status = await new Promise<number | null>((done) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (!sent && /^epoch +2\//m.test(stdout)) sent = child.kill('SIGINT');
      });
      child.on('exit', (code) => done(code));
    });
    expect(status).toBe(130);
    expect(stdout).toMatch(/interrupted; keeping epoch \d+, the best so far/);
    const model = decodeModel(new Uint8Array(readFileSync(out)));
    const training = model.metadata.training as Record<string, number | boolean>;
    expect(training.interrupted).toBe(true);
    expect(training.epochsRun).toBeLessThan(200);
    expect(training.bestEpoch).toBeGreaterThanOrEqual(1);
  });

  it('should print --help with every flag and exit 0', async () => {
    const run = await train(['--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('--val-frac N');
    expect(run.stdout).toContain('--encoding NAME');
  });

  it('should exit 2 with one line on a bad flag', async () => {
    const run = await train(['--lr', 'x']);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('train: --lr: expected a number ≥ 0, got "x"\n');
  });

  describe('with bad data', () => {
    const dir = (name: string, files: Partial<Record<keyof typeof IDX_FILES, Uint8Array>>) => {
      const path = join(work, name);
      mkdirSync(path);
      for (const [key, bytes] of Object.entries(files))
        writeFileSync(join(path, IDX_FILES[key as keyof typeof IDX_FILES]), bytes);
      return path;
    };
    const images = (n: number) => encodeIdx([n, 28, 28], new Uint8Array(n * 784));
    const labels = (n: number) => encodeIdx([n], new Uint8Array(n));

    const cases: [string, () => string, (path: string) => string][] = [
      ['a missing directory', () => join(work, 'missing'), (p) => `train: ${p}: no such directory\n`],
      [
        'a malformed IDX file',
        () => dir('malformed', { trainImages: Uint8Array.of(0, 0, 8, 3, 0, 0), trainLabels: labels(2) }),
        (p) => `train: ${p}/train-images-idx3-ubyte: header truncated: 6 bytes, the header of images is 16\n`,
      ],
      [
        'images and labels of different counts',
        () => dir('mismatch', { trainImages: images(3), trainLabels: labels(2) }),
        (p) => `train: ${p}/train-labels-idx1-ubyte: 3 images but 2 labels (in train-images-idx3-ubyte)\n`,
      ],
      [
        'a missing test file',
        () => dir('no-test', { trainImages: images(2), trainLabels: labels(2) }),
        (p) => `train: ${p}/t10k-images-idx3-ubyte: no such file (nor with .gz)\n`,
      ],
    ];
    for (const [name, makeDir, expected] of cases) {
      it(`should exit 1 with one line naming the file for ${name}`, async () => {
        const path = makeDir();
        const run = await train(['--backend', 'ts', '--data', path, '--out', join(work, 'never.bin')]);
        expect(run.status).toBe(1);
        expect(run.stderr).toBe(expected(path));
        expect(existsSync(join(work, 'never.bin'))).toBe(false);
      });
    }
  });
});
