/**
 * @module
 * Our side of `npm run bench` on the 784-1024-512-10 network: training throughput of `Trainer` (plain SGD, the
 * peers' loop: shuffled gather + step), inference through `createPredictor` (float32 and int8), and the
 * Worker's fine-tune sequence of `src/nn` calls. Figures only; the table is made by `scripts/bench.ts`.
 */
import { decodeModel, encodeModel, encodeModelDecoded, type ModelData } from '../../src/format/index.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import {
  createPredictor,
  createRng,
  DIGIT_CLASSES,
  INPUT_SIZE,
  Mlp,
  shuffleInPlace,
  Trainer,
} from '../../src/nn/index.ts';
import { gatherBatch } from './augment.ts';
import type { Examples } from './dataset.ts';
import { median, medianLatencyUs, timeOnce } from './bench-stats.ts';

export const SIZES = [INPUT_SIZE, 1024, 512, DIGIT_CLASSES];
const ALPHA = 0.01;

export interface TrainFigures {
  batch: number;
  threads: number;
  kernels: string;
  /** Median over repeats of examples per wall-clock second. */
  exPerS: number;
  /** Median over repeats of examples per second of this process's CPU time (all threads). */
  exPerCpuS: number;
  /** Median milliseconds per step, wall. */
  stepMs: number;
}

/**
 * Examples/s of plain SGD (lr 1e-3, the origin's randn·0.01 init, as the peers' `bench` mode) at `batch`,
 * each repeat `steps` steps over a shuffled order of the training set, after 20 warm-up steps.
 */
export function benchTraining(
  kernels: Kernels,
  threads: number,
  train: Examples,
  batch: number,
  steps: number,
  repeats: number,
): TrainFigures {
  const net = Mlp.create({ sizes: SIZES, alpha: ALPHA }, kernels, { scheme: 'origin', seed: 1 });
  const trainer = new Trainer(net, { kind: 'sgd', lr: 1e-3, momentum: 0, l1: 0, l2: 0 }, batch);
  const x = kernels.alloc(batch * SIZES[0]);
  const labels = new Uint8Array(batch);
  const order = new Uint32Array(train.count).map((_, i) => i);
  shuffleInPlace(order, createRng(7));
  let cursor = 0;
  const run = (n: number) => {
    for (let s = 0; s < n; s++) {
      if (cursor + batch > train.count) cursor = 0;
      gatherBatch(train.images, train.labels, order, cursor, batch, 28, 28, x, labels, null);
      cursor += batch;
      trainer.step(x, labels, batch);
    }
  };
  run(20);
  const timings = Array.from({ length: repeats }, () => timeOnce(() => run(steps)));
  trainer.dispose();
  net.dispose();
  kernels.free(x);
  const examples = steps * batch;
  return {
    batch,
    threads,
    kernels: kernels.name,
    exPerS: median(timings.map((t) => (examples / t.wallMs) * 1000)),
    exPerCpuS: median(timings.map((t) => (examples / t.cpuMs) * 1000)),
    stepMs: median(timings.map((t) => t.wallMs / steps)),
  };
}

export interface InferFigures {
  encoding: 'f32' | 'int8';
  threads: number;
  kernels: string;
  /** Median microseconds of `predict(x, 1)` over single test images. */
  singleUs: number;
  /**
   * The same over the test images with every blank pixel set to 1/255 (a faint background): the kernels skip
   * zero inputs, so this is the cost of an image without any.
   */
  singleNoBlankUs: number;
  /** Images per second of `predict(x, 1000)`, median over repeats. */
  batch1000ImgPerS: number;
}

/** A model blob's data for the benchmark network (He init, as the peers' `infer` mode), decoded as served. */
export function benchModel(encoding: 'f32' | 'int8', kernels: Kernels): ModelData {
  return randomModelData(SIZES, ALPHA, encoding, kernels, 3);
}

/** A seeded He-initialised network, encoded as a blob and decoded again: what a server would load. */
export function randomModelData(
  sizes: number[],
  alpha: number,
  encoding: 'f32' | 'int8',
  kernels: Kernels,
  seed: number,
): ModelData {
  const net = Mlp.create({ sizes, alpha }, kernels, { scheme: 'he', seed });
  const bytes = encodeModel({
    sizes,
    alpha,
    encoding,
    params: new Float32Array(net.params),
    metadata: { dataset: 'mnist', createdAt: new Date(0).toISOString() },
  });
  net.dispose();
  return decodeModel(bytes);
}

/** Single-image latency and batch-1000 throughput of `createPredictor` on test images. */
export function benchInference(
  kernels: Kernels,
  threads: number,
  encoding: 'f32' | 'int8',
  test: Examples,
  singleReps: number,
  batchRepeats: number,
): InferFigures {
  const predictor = createPredictor(benchModel(encoding, kernels), kernels);
  const d = SIZES[0];
  let i = 0;
  const single = (images: Float32Array) =>
    medianLatencyUs(() => {
      const row = i++ % test.count;
      predictor.predict(images.subarray(row * d, (row + 1) * d), 1);
    }, singleReps);
  const singleUs = single(test.images);
  const singleNoBlankUs = single(test.images.map((v) => (v === 0 ? 1 / 255 : v)));
  const batch = test.images.subarray(0, 1000 * d);
  predictor.predict(batch, 1000);
  const times = Array.from(
    { length: batchRepeats },
    () => timeOnce(() => predictor.predict(batch, 1000)).wallMs,
  );
  predictor.dispose();
  return {
    encoding,
    threads,
    kernels: kernels.name,
    singleUs,
    singleNoBlankUs,
    batch1000ImgPerS: 1000 / (median(times) / 1000),
  };
}

export interface FineTuneFigures {
  encoding: 'f32' | 'int8';
  kernels: string;
  /** The whole sequence the Worker runs (predictors, scores, 10 steps, encode, decode), median ms. */
  totalWallMs: number;
  totalCpuMs: number;
  /** The 10 SGD steps alone. */
  stepsWallMs: number;
  stepsCpuMs: number;
}

/**
 * 64 examples × 10 full-batch SGD steps through the calls the first `/fine-tune` made (its module was bound to
 * the Worker's bundled .wasm, so it could not be imported in Node): score the parent, train a copy,
 * encode it in the parent's encoding, decode and score the child. No check set (the guard's extra scoring).
 */
export function benchFineTune(
  kernels: Kernels,
  encoding: 'f32' | 'int8',
  test: Examples,
  repeats: number,
  count = 64,
  steps = 10,
): FineTuneFigures {
  const parent = benchModel(encoding, kernels);
  const x = test.images.subarray(0, count * SIZES[0]);
  const labels = test.labels.subarray(0, count);
  const stepTimes: { wallMs: number; cpuMs: number }[] = [];
  const once = () => {
    const parentPredictor = createPredictor(parent, kernels);
    parentPredictor.predict(x, count);
    const net = Mlp.fromParams({ sizes: parent.sizes, alpha: parent.alpha }, kernels, parent.params);
    const trainer = new Trainer(net, { kind: 'sgd', lr: 0.05, momentum: 0, l1: 0, l2: 0 }, count);
    stepTimes.push(
      timeOnce(() => {
        for (let s = 0; s < steps; s++) trainer.step(x, labels, count);
      }),
    );
    const { decoded } = encodeModelDecoded({
      sizes: parent.sizes,
      alpha: parent.alpha,
      encoding: parent.encoding,
      params: new Float32Array(net.params),
      metadata: { ...parent.metadata, parentVersion: 'bench' },
    });
    const child = createPredictor(decoded, kernels);
    child.predict(x, count);
    for (const thing of [child, trainer, net, parentPredictor]) thing.dispose();
  };
  once();
  stepTimes.length = 0;
  const totals = Array.from({ length: repeats }, () => timeOnce(once));
  return {
    encoding,
    kernels: kernels.name,
    totalWallMs: median(totals.map((t) => t.wallMs)),
    totalCpuMs: median(totals.map((t) => t.cpuMs)),
    stepsWallMs: median(stepTimes.map((t) => t.wallMs)),
    stepsCpuMs: median(stepTimes.map((t) => t.cpuMs)),
  };
}
