/**
 * The ONNX export run by onnxruntime-node (the CPU binaries shipped in its npm package; its install script,
 * which downloads CUDA files, is not approved in package.json "allowScripts"). Skipped, with the reason printed,
 * where the runtime cannot load.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyTemperature } from '../../src/data/verdict.ts';
import { decodeModel, type ModelData } from '../../src/format/index.ts';
import { modelToOnnx, ONNX_INPUT, ONNX_OUTPUT } from '../../src/format/onnx.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { loadDataset, MNIST_DIR } from '../../scripts/lib/dataset.ts';
import { argmaxRows, asServed, predictExamples } from '../../scripts/lib/interop.ts';
import { loadKernels, type LoadedKernels } from '../../scripts/lib/kernels-node.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const IMAGES = 1000;
const committed = decodeModel(new Uint8Array(readFileSync(resolve(ROOT, 'models/default.bin'))));
// The network alone: the committed model's temperature is left out here and tested on its own below.
const { calibration: _calibration, ...uncalibrated } = committed.metadata;
const int8Model: ModelData = { ...committed, metadata: uncalibrated };
const f32Model: ModelData = { ...int8Model, encoding: 'f32', quantized: undefined };
// The images as the Worker serves them to this model (prepared as its recipe was): an ONNX user sends those.
const raw = loadDataset(MNIST_DIR, { limit: 1 }).test;
const test = asServed(committed.metadata, {
  count: IMAGES,
  images: raw.images.slice(0, IMAGES * 784),
  labels: raw.labels.slice(0, IMAGES),
});

type Ort = typeof import('onnxruntime-node');
let ort: Ort | null = null;
try {
  ort = (await import('onnxruntime-node')).default as unknown as Ort;
} catch (error) {
  console.warn(`skipping the onnxruntime-node tests: it does not load here (${(error as Error).message})`);
}

let kernels: LoadedKernels;
beforeAll(async () => {
  kernels = await loadKernels({ backend: 'wasm', threads: 1 });
});
afterAll(() => kernels?.dispose());

async function runOnnx(model: ModelData): Promise<Float32Array> {
  const session = await ort!.InferenceSession.create(modelToOnnx(model, 'test'));
  expect([session.inputNames, session.outputNames]).toEqual([[ONNX_INPUT], [ONNX_OUTPUT]]);
  const x = new ort!.Tensor('float32', test.images.slice(0, IMAGES * 784), [IMAGES, 784]);
  const output = (await session.run({ [ONNX_INPUT]: x }))[ONNX_OUTPUT];
  expect(output.dims).toEqual([IMAGES, 10]);
  return output.data as Float32Array;
}

const maxDifference = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe.skipIf(!ort)(`modelToOnnx run by onnxruntime-node on ${IMAGES} MNIST test images`, () => {
  it('should give the float32 model’s probabilities within 1e-5 of the served ones', async () => {
    const onnx = await runOnnx(f32Model);
    const ours = predictExamples(f32Model, test, kernels, IMAGES);
    expect(maxDifference(onnx, ours)).toBeLessThan(1e-5);
    expect(argmaxRows(onnx, IMAGES, 10)).toEqual(argmaxRows(ours, IMAGES, 10));
  });

  it('should give the int8 (QDQ) model’s argmax for every image as served, and its exact network within 1e-5', async () => {
    const onnx = await runOnnx(int8Model);
    // Served: the Worker's wasm int8 kernels, which also quantize the activations.
    // The TypeScript reference computes the int8 weights with float activations, as the QDQ graph does.
    const reference = predictExamples(int8Model, test, createTsKernels(), IMAGES);
    expect(maxDifference(onnx, reference)).toBeLessThan(1e-5);
    expect(argmaxRows(onnx, IMAGES, 10)).toEqual(argmaxRows(reference, IMAGES, 10));
    // Served: the Worker's wasm int8 kernels also quantize the activations, which moves a few near-even digits.
    const served = argmaxRows(predictExamples(int8Model, test, kernels, IMAGES), IMAGES, 10);
    const onnxDigits = argmaxRows(onnx, IMAGES, 10);
    expect(served.filter((d, i) => d !== onnxDigits[i]).length).toBeLessThanOrEqual(IMAGES * 0.005);
  });

  it('should divide the logits by a calibrated model’s temperature, as the served probabilities are', async () => {
    const calibrated: ModelData = {
      ...f32Model,
      metadata: { ...f32Model.metadata, calibration: { method: 'temperature', temperature: 1.7 } },
    };
    const onnx = await runOnnx(calibrated);
    const ours = applyTemperature(predictExamples(f32Model, test, kernels, IMAGES), 10, 1.7);
    expect(maxDifference(onnx, ours)).toBeLessThan(1e-5);
    expect(maxDifference(onnx, await runOnnx(f32Model))).toBeGreaterThan(1e-3); // it did change them
  });

  it('should keep the int8 weights in the file (QDQ) and the edge-mlp metadata in metadata_props', () => {
    const int8Bytes = modelToOnnx(int8Model, 'test').length;
    const f32Bytes = modelToOnnx(f32Model, 'test').length;
    expect(int8Bytes).toBeLessThan(f32Bytes / 3.5);
    const text = new TextDecoder('latin1').decode(modelToOnnx(int8Model, 'test'));
    for (const s of ['DequantizeLinear', 'LeakyRelu', 'Softmax', 'edge_mlp.alpha', '0.weight_quantized']) {
      expect(text).toContain(s);
    }
  });
});
