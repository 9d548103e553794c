/**
 * `npm run export` and `npm run import` as a user runs them: round trips through safetensors, one-line errors
 * for bad files, and the peers that read what we write (numpy or PyTorch, onnxruntime-node). A peer that is
 * not installed skips its tests with the reason printed.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeModel,
  encodeMaster,
  encodeModel,
  encodeSafetensors,
  safetensorsToModel,
  withMaster,
  type ModelData,
} from '../../src/format/index.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { makeModel } from '../format/fixtures.ts';
import { loadDataset, MNIST_DIR, type Examples } from '../../scripts/lib/dataset.ts';
import { argmaxRows, asServed, predictExamples } from '../../scripts/lib/interop.ts';
import { loadKernels, type LoadedKernels } from '../../scripts/lib/kernels-node.ts';
import { BAD_FILES, tinyFile } from '../format/safetensors-fixtures.ts';
import { pythonPeers } from './interop-peers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'edge-mlp-interop-'));
const DEFAULT_BLOB = join(ROOT, 'models/default.bin');
/** The committed default model (int8) and the same network with its dequantized weights stored as f32. */
const defaultModel = decodeModel(new Uint8Array(readFileSync(DEFAULT_BLOB)));
const F32_BLOB = join(work, 'default-f32.bin');
writeFileSync(
  F32_BLOB,
  encodeModel({ ...defaultModel, encoding: 'f32', quantized: undefined, params: defaultModel.params }),
);
const { test: mnistTest } = loadDataset(MNIST_DIR, { limit: 1 });
const PEER_IMAGES = 1000;

let kernels: LoadedKernels;
beforeAll(async () => {
  kernels = await loadKernels({ backend: 'wasm', threads: 1 });
});
afterAll(async () => {
  await kernels?.dispose();
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  timeout = 120_000,
  env: Record<string, string> = {},
): Promise<Run> {
  return new Promise((done) => {
    const options = { cwd: ROOT, timeout, maxBuffer: 1 << 24, env: { ...process.env, ...env } };
    execFile(command, args, options, (error, stdout, stderr) => {
      done({ status: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}
const cli = (script: 'export' | 'import', ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', join(ROOT, `scripts/${script}.ts`), ...args]);

const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const servedDigits = (model: ModelData, count = PEER_IMAGES, examples = mnistTest) =>
  argmaxRows(predictExamples(model, examples, kernels, count), count, 10);

/**
 * The first `PEER_IMAGES` test digits as the Worker prepares them for the default model, in 0-255 as a client
 * would send them, and written as MNIST IDX files into `dir` for the Python peer (its `MNIST_DIR`).
 */
function servedTestSet(dir: string): Examples {
  const first = {
    count: PEER_IMAGES,
    images: mnistTest.images.slice(0, PEER_IMAGES * 784),
    labels: mnistTest.labels.slice(0, PEER_IMAGES),
  };
  const bytes = Uint8Array.from(asServed(defaultModel.metadata, first).images, (v) => Math.round(v * 255));
  mkdirSync(dir, { recursive: true });
  const header = (magic: number, ...dims: number[]) => {
    const h = new DataView(new ArrayBuffer(4 + 4 * dims.length));
    h.setUint32(0, magic);
    dims.forEach((d, i) => h.setUint32(4 + 4 * i, d));
    return new Uint8Array(h.buffer);
  };
  writeFileSync(
    join(dir, 't10k-images-idx3-ubyte'),
    Buffer.concat([header(0x803, PEER_IMAGES, 28, 28), bytes]),
  );
  writeFileSync(
    join(dir, 't10k-labels-idx1-ubyte'),
    Buffer.concat([header(0x801, PEER_IMAGES), first.labels]),
  );
  return { count: PEER_IMAGES, images: Float32Array.from(bytes, (v) => v / 255), labels: first.labels };
}

describe('npm run export / import', () => {
  it('should round-trip an f32 blob through safetensors with the same weights bit for bit and the same predictions', async () => {
    const file = join(work, 'f32.safetensors');
    const out = join(work, 'f32-back.bin');
    const exported = await cli('export', F32_BLOB, '--format', 'safetensors', '--out', file);
    expect(exported).toMatchObject({ status: 0, stderr: '' });
    const imported = await cli('import', file, '--out', out, '--encoding', 'f32');
    expect(imported.status, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/mnist test accuracy 99\.\d\d% as f32/);

    const original = decodeModel(new Uint8Array(readFileSync(F32_BLOB)));
    const back = decodeModel(new Uint8Array(readFileSync(out)));
    expect([back.encoding, back.sizes, back.alpha]).toEqual(['f32', original.sizes, original.alpha]);
    expect(bitsOf(back.params)).toEqual(bitsOf(original.params));
    expect(servedDigits(back)).toEqual(servedDigits(original));
    expect(back.metadata).toMatchObject({
      dataset: 'mnist',
      training: original.metadata.training,
      imported: { file: 'f32.safetensors', sourceEncoding: 'f32' },
    });
    expect(back.metadata.testAccuracy).toBeCloseTo(
      (original.metadata.testAccuracyByEncoding as Record<string, number>).f32,
      3,
    );
    const card = readFileSync(join(work, 'f32-back.card.md'), 'utf8');
    expect(card).toContain('`0.weight [1024,784]`');
    expect(card).toContain(`**${(back.metadata.testAccuracy! * 100).toFixed(2)}%** as stored (f32)`);
  });

  it('should round-trip the int8 default model with --keep-int8 to the same int8 weights and predictions', async () => {
    const file = join(work, 'int8.safetensors');
    const out = join(work, 'int8-back.bin');
    expect((await cli('export', DEFAULT_BLOB, '--out', file, '--keep-int8')).status).toBe(0);
    const imported = await cli('import', file, '--out', out); // auto keeps int8 tensors int8
    expect(imported.status, imported.stderr).toBe(0);
    const back = decodeModel(new Uint8Array(readFileSync(out)));
    expect(back.encoding).toBe('int8');
    expect(back.quantized).toEqual(defaultModel.quantized);
    expect(bitsOf(back.params)).toEqual(bitsOf(defaultModel.params));
    expect(back.metadata.testAccuracy).toBe(defaultModel.metadata.testAccuracy);
    expect(servedDigits(back)).toEqual(servedDigits(defaultModel));
  });

  it('should refuse --keep-int8 for an f32 model and a corrupt blob, each with one line', async () => {
    const keep = await cli('export', F32_BLOB, '--out', join(work, 'x.safetensors'), '--keep-int8');
    expect(keep.status).toBe(2);
    expect(keep.stderr.trim()).toBe(`export: ${F32_BLOB}: --keep-int8 needs an int8 model, this one is f32`);
    const bad = join(work, 'bad.bin');
    writeFileSync(bad, Uint8Array.of(1, 2, 3, 4));
    const corrupt = await cli('export', bad, '--out', join(work, 'x.onnx'));
    expect(corrupt.status).toBe(1);
    expect(corrupt.stderr).toMatch(new RegExp(`^export: ${bad}: bad magic at byte 0: [^\\n]*\\n$`));
  });

  it('should export an int8 model with a master as its float32 master weights, or dequantized with --master none', async () => {
    const f32 = makeModel([20, 8, 10], 'f32', 9);
    const master = encodeMaster(f32);
    const serving = join(work, 'served.bin');
    writeFileSync(serving, encodeModel(withMaster({ ...f32, encoding: 'int8' }, master)));
    writeFileSync(join(work, 'served.master.bin'), master);
    const dequantized = decodeModel(new Uint8Array(readFileSync(serving))).params;
    const weightsOf = (file: string) => safetensorsToModel(new Uint8Array(readFileSync(file))).params;

    const [withIt, without, wrong] = await Promise.all([
      cli('export', serving, '--out', join(work, 'm.safetensors')),
      cli('export', serving, '--out', join(work, 'd.safetensors'), '--master', 'none'),
      cli('export', serving, '--out', join(work, 'w.safetensors'), '--master', F32_BLOB),
    ]);
    expect(withIt.stdout).toContain('float32 master');
    expect(bitsOf(weightsOf(join(work, 'm.safetensors')))).toEqual(bitsOf(f32.params));
    expect(without.stdout).toContain('dequantized weights');
    expect(bitsOf(weightsOf(join(work, 'd.safetensors')))).toEqual(bitsOf(dequantized));
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(
      new RegExp(`^export: ${F32_BLOB}: not the master of ${serving}: [^\\n]*\\n$`),
    );
  });

  const CLI_CASES = [
    'a truncated header length',
    'a header length beyond the file',
    'overlapping tensors',
    'offsets out of range',
    'an unknown dtype',
    'a missing bias',
    'a wrong shape',
  ];
  it.each(BAD_FILES.filter((b) => CLI_CASES.includes(b.what)))(
    'should refuse $what in one line naming the file and the tensor, exit 1',
    async ({ what, bytes, tensor, says }) => {
      const file = join(work, `${what.replaceAll(' ', '-')}.safetensors`);
      writeFileSync(file, bytes());
      const out = join(work, 'never.bin');
      const result = await cli('import', file, '--out', out);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^import: [^\n]*\n$/);
      expect(result.stderr).toContain(`import: ${file}: `);
      if (tensor !== null) expect(result.stderr).toContain(`tensor "${tensor}"`);
      expect(result.stderr).toContain(says);
      expect(() => readFileSync(out)).toThrow();
    },
  );

  it('should refuse a network that does not map MNIST images to 10 digits, naming the tensor', async () => {
    const outputs = join(work, 'tiny.safetensors');
    writeFileSync(outputs, tinyFile()); // 3 → 2 → 2
    const inputs = join(work, 'inputs.safetensors');
    writeFileSync(
      inputs,
      encodeSafetensors([
        { name: '0.weight', dtype: 'F32', shape: [10, 3], data: new Uint8Array(120) },
        { name: '0.bias', dtype: 'F32', shape: [10], data: new Uint8Array(40) },
      ]),
    );
    const [a, b] = await Promise.all([
      cli('import', outputs, '--out', join(work, 'tiny.bin')),
      cli('import', inputs, '--out', join(work, 'inputs.bin')),
    ]);
    expect([a.status, b.status]).toEqual([1, 1]);
    expect(a.stderr).toMatch(/^import: [^\n]*\n$/);
    expect(a.stderr).toContain(
      'tensor "2.weight": shape [2, 2], expected [10, 2]: the network has 10 classes',
    );
    expect(b.stderr).toMatch(/^import: [^\n]*\n$/);
    expect(b.stderr).toContain(
      'tensor "0.weight": shape [10, 3], expected [10, 784]: the mnist images have 784 pixels',
    );
  });

  it('should refuse a non-finite weight in one line naming the file, the tensor and the element', async () => {
    const weight = new Float32Array(10 * 784);
    weight[1234] = NaN;
    const file = join(work, 'nan.safetensors');
    writeFileSync(
      file,
      encodeSafetensors([
        { name: '0.weight', dtype: 'F32', shape: [10, 784], data: new Uint8Array(weight.buffer) },
        { name: '0.bias', dtype: 'F32', shape: [10], data: new Uint8Array(40) },
      ]),
    );
    const result = await cli('import', file, '--out', join(work, 'nan.bin'));
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`import: ${file}: tensor "0.weight": element 1234 is NaN\n`);
  });
});

const peers = await pythonPeers(ROOT);

describe.skipIf(!peers.numpy)('the exported safetensors in Python (numpy, or PyTorch when installed)', () => {
  it.each([
    ['int8 default model (dequantized float32)', DEFAULT_BLOB, 'py-int8', []],
    ['int8 default model (--keep-int8)', DEFAULT_BLOB, 'py-keep-int8', ['--keep-int8']],
    ['f32 model', F32_BLOB, 'py-f32', []],
  ])(
    `should predict the same digits as our float reference on ${PEER_IMAGES} MNIST test images: %s`,
    async (_, blob, name, flags) => {
      const file = join(work, `${name}.safetensors`);
      expect((await cli('export', blob, '--out', file, ...flags)).status).toBe(0);
      // The digits as served (the default model's recipe prepares them), the same bytes on both sides.
      const dir = join(work, 'mnist-served');
      const images = servedTestSet(dir);
      const result = await run(
        peers.python,
        ['scripts/peers/predict_safetensors.py', file, '--count', String(PEER_IMAGES)],
        120_000,
        { MNIST_DIR: dir },
      );
      expect(result.status, result.stderr).toBe(0);
      const python = JSON.parse(result.stdout) as { engine: string; digits: number[] };
      expect(python.engine).toBe(peers.torch ? 'torch' : 'numpy');
      const model = decodeModel(new Uint8Array(readFileSync(blob)));
      // The peer computes with float activations, as our TypeScript reference does: the same digits. (The served
      // wasm int8 kernels also quantize the activations, which moves ~0.2% of digits: see the ONNX test.)
      const referenceProbs = predictExamples(model, images, createTsKernels(), PEER_IMAGES);
      const reference = argmaxRows(referenceProbs, PEER_IMAGES, 10);
      // Only a dead heat may part them (the dequantized export rounds the scales in another order).
      const partings = python.digits.flatMap((d, k) => (d === reference[k] ? [] : [k]));
      for (const k of partings) {
        const row = referenceProbs.subarray(k * 10, k * 10 + 10);
        expect(row[reference[k]] - row[python.digits[k]], `image ${k}`).toBeLessThan(1e-2);
      }
      expect(partings.length).toBeLessThanOrEqual(PEER_IMAGES * 0.005);
      const served = servedDigits(model, PEER_IMAGES, images);
      expect(served.filter((d, i) => d !== reference[i]).length).toBeLessThanOrEqual(PEER_IMAGES * 0.005);
    },
  );
});

describe.skipIf(!peers.torchPeer)(
  'a network trained by the PyTorch peer (../shared/peers/torch_mlp.py)',
  () => {
    it('should import from safetensors and serve with its PyTorch test accuracy (within 0.1 point)', async () => {
      const file = join(work, 'torch.safetensors');
      // A short run (1 epoch on 15,000 images) keeps this to seconds; the network and update are the peer's.
      const trained = await run(peers.python, [
        'scripts/peers/train_torch_safetensors.py',
        file,
        '--limit',
        '15000',
        '--epochs',
        '1',
      ]);
      expect(trained.status, trained.stderr).toBe(0);
      const torch = JSON.parse(trained.stdout) as { test_accuracy: number };
      console.log(`torch peer: ${trained.stdout.trim()}`);
      const out = join(work, 'torch.bin');
      const imported = await cli('import', file, '--out', out, '--encoding', 'f32');
      expect(imported.status, imported.stderr).toBe(0);
      expect(imported.stdout).toContain('using 0.01'); // a plain PyTorch file carries no slope
      const served = decodeModel(new Uint8Array(readFileSync(out)));
      const digits = servedDigits(served, mnistTest.count);
      const accuracy = digits.filter((d, i) => d === mnistTest.labels[i]).length / mnistTest.count;
      console.log(`torch-trained import: PyTorch ${torch.test_accuracy}, served here ${accuracy}`);
      expect(torch.test_accuracy).toBeGreaterThan(0.9); // it did learn
      expect(Math.abs(accuracy - torch.test_accuracy)).toBeLessThanOrEqual(0.001);
      expect(served.metadata.testAccuracy).toBe(accuracy);
    }, 180_000);
  },
);
