/**
 * @module
 * The Worker's own costs of `/predict` for one JSON image, piece by piece, with the code the Worker runs
 * (its zod request schema, the predictor, the answer's JSON): body parsing, validation, packing, inference
 * and the answer; a fresh isolate's first prediction (decode the blob, build the predictor, first image); and
 * the kernel memory one loaded model holds. Measured in Node's V8 on one thread, not inside workerd (whose
 * timers are coarsened): the same engine family and code, without the HTTP layer.
 */
import { readFileSync } from 'node:fs';
import { decodeModel } from '../../src/format/index.ts';
import type { WasmKernels } from '../../src/kernels/wasm-kernels.ts';
import { argmax, createPredictor, DIGIT_CLASSES, INPUT_SIZE } from '../../src/nn/index.ts';
import { flatImage, PredictRequest } from '../../src/worker/schemas.ts';
import type { Examples } from './dataset.ts';
import { medianLatencyUs } from './bench-stats.ts';

export interface WorkerFigures {
  model: string;
  encoding: string;
  kernels: string;
  /** Bytes of the request body. */
  bodyBytes: number;
  /** Median microseconds of each piece of one request. */
  parseUs: number;
  validateUs: number;
  packUs: number;
  inferUs: number;
  answerUs: number;
  totalUs: number;
  /** Milliseconds of CPU for a fresh isolate's first prediction: decode, predictor, first image. */
  firstRequestMs: number;
  /** Bytes of kernel memory the loaded model holds (weights in serving layout, activations). */
  modelBytes: number;
}

/** The pieces of `/predict` for single test images (0-255 JSON, as a web form sends them) with `modelPath`. */
export function benchWorkerRequest(
  makeKernels: () => WasmKernels,
  modelPath: string,
  test: Examples,
  reps: number,
): WorkerFigures {
  const blob = new Uint8Array(readFileSync(modelPath));
  const kernels = makeKernels();
  // A fresh isolate: nothing decoded, the predictor built and its first image served in one go.
  const before = kernels.usedBytes();
  const t0 = process.cpuUsage();
  const model = decodeModel(blob);
  const predictor = createPredictor(model, kernels);
  predictor.predict(test.images.subarray(0, INPUT_SIZE), 1);
  const t1 = process.cpuUsage(t0);
  const modelBytes = kernels.usedBytes() - before;

  const bodies = Array.from({ length: 64 }, (_, i) =>
    JSON.stringify({
      pixelScale: '0-255',
      image: Array.from(test.images.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE), (v) =>
        Math.round(v * 255),
      ),
    }),
  );
  const parsed = bodies.map((b) => JSON.parse(b) as unknown);
  const valid = parsed.map((p) => PredictRequest.parse(p));
  const inputs = valid.map((v) => pack(flatImage(v.image!)));
  const probs = inputs.map((x) => predictor.predict(x, 1));
  let i = 0;
  const next = () => i++ % bodies.length;
  const parseUs = medianLatencyUs(() => JSON.parse(bodies[next()]), reps);
  const validateUs = medianLatencyUs(() => PredictRequest.safeParse(parsed[next()]), reps);
  const packUs = medianLatencyUs(() => pack(flatImage(valid[next()].image!)), reps);
  const inferUs = medianLatencyUs(() => predictor.predict(inputs[next()], 1), reps);
  const answerUs = medianLatencyUs(() => answer(probs[next()]), reps);
  const totalUs = medianLatencyUs(() => {
    const v = PredictRequest.safeParse(JSON.parse(bodies[next()]));
    if (v.success) answer(predictor.predict(pack(flatImage(v.data.image!)), 1));
  }, reps);
  predictor.dispose();
  return {
    model: modelPath,
    encoding: model.encoding,
    kernels: kernels.name,
    bodyBytes: bodies[0].length,
    parseUs,
    validateUs,
    packUs,
    inferUs,
    answerUs,
    totalUs,
    firstRequestMs: (t1.user + t1.system) / 1000,
    modelBytes,
  };
}

/** The network's input from 0-255 pixels, as the Worker packs it. */
function pack(flat: number[]): Float32Array {
  const x = new Float32Array(INPUT_SIZE);
  for (let j = 0; j < INPUT_SIZE; j++) x[j] = flat[j] / 255;
  return x;
}

/** The answer's JSON text for one image. */
function answer(probs: Float32Array): string {
  const probabilities = Array.from(probs.subarray(0, DIGIT_CLASSES));
  const digit = argmax(probabilities);
  return JSON.stringify({ digit, confidence: probabilities[digit], probabilities, modelVersion: 'v1' });
}
