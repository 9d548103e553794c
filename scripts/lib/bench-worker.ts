/**
 * @module
 * The Worker's own costs of `/predict` for one JSON image, piece by piece, with the code the Worker runs
 * (its zod request schema, `jsonInput`, the preparation for a model trained on prepared images, the predictor,
 * the verdict, the answer's JSON): body parsing, validation, the input (pixels, ink map, blank test), its
 * preparation, inference, and the verdict with the answer's text; a fresh isolate's first prediction (decode the
 * blob, build the predictor, first image); and the kernel memory one loaded model holds. Measured in Node's V8
 * on one thread, without the HTTP layer; `scripts/bench-workerd.ts` measures the same pieces inside workerd.
 */
import { readFileSync } from 'node:fs';
import { decodeModel } from '../../src/format/index.ts';
import type { WasmKernels } from '../../src/kernels/wasm-kernels.ts';
import { createPredictor, INPUT_SIZE } from '../../src/nn/index.ts';
import { readConfig } from '../../src/worker/config.ts';
import { jsonInput, jsonModelInput } from '../../src/worker/json-input.ts';
import { fastPredictRequest } from '../../src/worker/fast-predict-request.ts';
import { PredictRequest } from '../../src/worker/schemas.ts';
import { temperatureOf, toVerdictPredictions } from '../../src/worker/verdicts.ts';
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
  /** `jsonInput`: pixels to [0, 1], the ink map, the blank test. */
  inputUs: number;
  /** The preparation (`preprocess`) of a model trained on prepared images; 0 for one that was not. */
  prepareUs: number;
  inferUs: number;
  /** Temperature, verdict and the answer's JSON text. */
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

  // As a web form sends them: 0-255, no `pixelScale` (inferred), no `preprocess` (the model's default).
  const bodies = Array.from({ length: 64 }, (_, i) =>
    JSON.stringify({
      image: Array.from(test.images.subarray(i * INPUT_SIZE, (i + 1) * INPUT_SIZE), (v) =>
        Math.round(v * 255),
      ),
    }),
  );
  const cfg = readConfig({} as Parameters<typeof readConfig>[0]);
  const temperature = temperatureOf(model.metadata);
  const answer = (probs: Float32Array, blank: boolean[]) => {
    const [p] = toVerdictPredictions(probs, 1, { temperature, minConfidence: cfg.minConfidence, blank });
    return JSON.stringify({ ...p, modelVersion: 'v1', pixelScale: '0-255', pixelScaleInferred: true });
  };
  const parsed = bodies.map((b) => JSON.parse(b) as unknown);
  const valid = parsed.map((p) => PredictRequest.parse(p));
  const inputs = valid.map((v) => jsonInput(v, cfg));
  const xs = inputs.map((input) => jsonModelInput(input, model.metadata));
  const probs = xs.map((x) => predictor.predict(x, 1).slice());
  let i = 0;
  const next = () => i++ % bodies.length;
  const parseUs = medianLatencyUs(() => JSON.parse(bodies[next()]), reps);
  // As the route's validator runs it (`withFastPath(PredictRequest).safeParseAsync`: the hand-checked common body,
  // else zod), without the promise.
  const validate = (value: unknown) => {
    const fast = fastPredictRequest(value);
    return fast ? { success: true as const, data: fast } : PredictRequest.safeParse(value);
  };
  const validateUs = medianLatencyUs(() => validate(parsed[next()]), reps);
  const inputUs = medianLatencyUs(() => jsonInput(valid[next()], cfg), reps);
  const prepareUs = medianLatencyUs(() => jsonModelInput(inputs[next()], model.metadata), reps);
  const inferUs = medianLatencyUs(() => predictor.predict(xs[next()], 1), reps);
  const answerUs = medianLatencyUs(() => {
    const k = next();
    answer(probs[k].slice(), inputs[k].blank);
  }, reps);
  const totalUs = medianLatencyUs(() => {
    const v = validate(JSON.parse(bodies[next()]));
    if (!v.success) throw new Error('bench: a test image failed validation');
    const input = jsonInput(v.data, cfg);
    answer(predictor.predict(jsonModelInput(input, model.metadata), 1), input.blank);
  }, reps);
  predictor.dispose();
  return {
    model: modelPath,
    encoding: model.encoding,
    kernels: kernels.name,
    bodyBytes: bodies[0].length,
    parseUs,
    validateUs,
    inputUs,
    prepareUs,
    inferUs,
    answerUs,
    totalUs,
    firstRequestMs: (t1.user + t1.system) / 1000,
    modelBytes,
  };
}
