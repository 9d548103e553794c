/**
 * @module
 * The fine-tune update: a pure function from a parent's float32 weights and a few labelled examples to the child's
 * float32 weights. Shuffled mini-batches with momentum over epochs (the default), optionally mixed with a replay
 * sample of the original training data and pulled towards the parent's weights; or the plain full-batch form.
 * Work (rows through forward and backward) is counted the same way for both, so one ceiling bounds either.
 * No I/O, no encoding, no guard: the worker's workflow does those.
 */
import type { Kernels } from '../kernels/kernels.ts';
import { Mlp, type MlpSpec } from './mlp.ts';
import { createRng, shuffleInPlace } from './rng.ts';
import { Trainer } from './trainer.ts';

export interface UpdateSettings {
  /** `minibatch`: shuffled batches over `epochs` passes; `full-batch`: `epochs` steps on all examples at once. */
  method: 'minibatch' | 'full-batch';
  /** Passes over the examples (minibatch) or steps (full-batch). */
  epochs: number;
  /** New examples per mini-batch (ignored by full-batch). */
  batchSize: number;
  learningRate: number;
  /** SGD momentum, 0 ≤ momentum < 1. */
  momentum: number;
  /** Learning rate over the run: constant, or cosine decay to 0 at the last step. */
  schedule: 'constant' | 'cosine';
  /** L1 and L2 (towards 0) on weights, as in training. */
  l1: number;
  l2: number;
  /** L2 pull towards the parent's weights: each step also moves every parameter by −lr·2·anchor·(w − w_parent). */
  anchor: number;
  /** Replay rows per new row in each batch (0 = none); needs a replay set. */
  replay: number;
  /** Seed of the shuffles (examples and replay). */
  seed: number;
}

/** Labelled rows: x [count×inputSize] in [0, 1], labels [count]. */
export interface Examples {
  x: Float32Array;
  labels: Uint8Array;
  count: number;
}

export interface UpdateInput {
  spec: MlpSpec;
  /** The parent's float32 (master) weights; not modified. */
  start: Float32Array;
  examples: Examples;
  /** A sample of the original training data, mixed into each batch when `settings.replay > 0`. */
  replay?: Examples | null;
  settings: UpdateSettings;
  kernels: Kernels;
}

export interface UpdateResult {
  /** The child's float32 weights (a plain array, not kernel memory). */
  params: Float32Array;
  /** Optimizer steps taken. */
  steps: number;
  /** Rows through forward and backward, new and replayed: what `workOf` predicted. */
  work: number;
  /** Replay rows among them. */
  replayRows: number;
  /** Mean training loss of each epoch (full-batch: of each step), measured before each update. */
  losses: number[];
}

/** The training loss stopped being finite, or a weight did: nothing from this update may be kept. */
export class UpdateDiverged extends Error {
  constructor(
    /** 1-based step at which it was seen (0: the weights after the last step). */
    readonly step: number,
    readonly loss: number,
  ) {
    super(
      step > 0
        ? `training diverged: the loss became ${loss} at step ${step}`
        : 'training diverged: the weights are no longer finite',
    );
    this.name = 'UpdateDiverged';
  }
}

/**
 * The defaults a request gets for what it leaves out (chosen by `scripts/adaptation-sweep.ts`; figures in
 * `docs/benchmarks.md`). `epochs` is the most a default run takes: `fitToWork` lowers it to the work ceiling.
 */
export const DEFAULT_UPDATE: UpdateSettings = {
  method: 'minibatch',
  epochs: 8,
  batchSize: 16,
  learningRate: 0.01,
  momentum: 0.9,
  schedule: 'cosine',
  l1: 0,
  l2: 0,
  anchor: 5,
  replay: 1,
  seed: 1,
};

/**
 * Settings scaled to the work ceiling: when `epochsChosen` is false (the caller did not ask for a number of
 * epochs or steps), epochs are lowered until `workOf` ≤ `maxWork`, then replay is lowered if even one epoch is
 * over. Settings the caller chose are returned as they are (the caller refuses them if they are over).
 */
export function fitToWork(
  settings: UpdateSettings,
  count: number,
  maxWork: number,
  epochsChosen: boolean,
): UpdateSettings {
  if (epochsChosen) return settings;
  let s = settings;
  while (s.epochs > 1 && workOf(s, count) > maxWork) s = { ...s, epochs: s.epochs - 1 };
  if (workOf(s, count) > maxWork && s.replay > 0) {
    // Even one epoch is over: the most replay that still fits (none when the examples alone are over).
    const room = Math.max(0, maxWork - count);
    s = { ...s, replay: Math.floor((room / count) * 100) / 100 };
    while (s.replay > 0 && workOf(s, count) > maxWork) s = { ...s, replay: Math.max(0, s.replay - 0.01) };
  }
  return s;
}

/** Replay rows per batch of `batch` new rows. */
export function replayPerBatch(settings: Pick<UpdateSettings, 'replay'>, batch: number): number {
  return Math.round(batch * settings.replay);
}

/** The shape of a run: batches per epoch, new rows per batch, replay rows per batch. */
export function planOf(
  settings: Pick<UpdateSettings, 'method' | 'epochs' | 'batchSize' | 'replay'>,
  count: number,
): { batchesPerEpoch: number; batch: number; replayPerBatch: number; steps: number } {
  const batch = settings.method === 'full-batch' ? count : Math.max(1, Math.min(settings.batchSize, count));
  const batchesPerEpoch = count === 0 ? 0 : Math.ceil(count / batch);
  return {
    batchesPerEpoch,
    batch,
    replayPerBatch: replayPerBatch(settings, batch),
    steps: batchesPerEpoch * settings.epochs,
  };
}

/**
 * What one step costs in rows whatever its batch: its update reads and writes every parameter (momentum, anchor),
 * ~4.4 ms for the default network in workerd against ~0.27 ms per row (a review: 256 examples, 8 epochs took 1.0 s
 * at batch 16 and 8.5 s at batch 1, the same rows).
 */
export const STEP_ROWS = 16;

/**
 * The update's cost in rows, bounded by the work ceiling: the rows through forward and backward for `count`
 * examples (replay included), and at least `STEP_ROWS` a step when batches are smaller, so that small batches
 * cannot buy many steps.
 */
export function workOf(
  settings: Pick<UpdateSettings, 'method' | 'epochs' | 'batchSize' | 'replay'>,
  count: number,
): number {
  const plan = planOf(settings, count);
  const rows = settings.epochs * count + plan.steps * plan.replayPerBatch;
  // Full batches of at least STEP_ROWS rows already count a step as much (a short last batch is let pass).
  return plan.batch + plan.replayPerBatch >= STEP_ROWS ? rows : Math.max(rows, plan.steps * STEP_ROWS);
}

/** Checks settings before any work, throwing a RangeError naming the bad one. */
export function checkSettings(s: UpdateSettings): void {
  const positive: [string, number][] = [
    ['epochs', s.epochs],
    ['batchSize', s.batchSize],
  ];
  for (const [name, v] of positive) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be an integer ≥ 1, got ${v}`);
  }
  const nonNegative: [string, number][] = [
    ['learningRate', s.learningRate],
    ['momentum', s.momentum],
    ['l1', s.l1],
    ['l2', s.l2],
    ['anchor', s.anchor],
    ['replay', s.replay],
  ];
  for (const [name, v] of nonNegative) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${v}`);
  }
  if (s.momentum >= 1) throw new RangeError(`momentum must be < 1, got ${s.momentum}`);
}

/**
 * Runs the update on a copy of `start` and returns the child's weights.
 * @throws {UpdateDiverged} when a batch loss or the final weights are not finite.
 * @throws {RangeError} on bad settings, or replay asked for without a replay set.
 */
export function fineTuneUpdate(input: UpdateInput): UpdateResult {
  const { spec, start, examples, settings: s, kernels } = input;
  checkSettings(s);
  const d = spec.sizes[0];
  const replay = s.replay > 0 ? (input.replay ?? null) : null;
  if (s.replay > 0 && (!replay || replay.count === 0)) {
    throw new RangeError('replay asked for, but the model has no replay set');
  }
  const n = examples.count;
  if (n < 1) throw new RangeError('at least one example is needed');
  const plan = planOf(s, n);
  const rows = plan.batch + (replay ? plan.replayPerBatch : 0);

  const net = Mlp.fromParams(spec, kernels, start);
  const trainer = new Trainer(
    net,
    { kind: 'sgd', lr: s.learningRate, momentum: s.momentum, l1: s.l1, l2: s.l2 },
    rows,
  );
  const bx = kernels.alloc(rows * d);
  const by = new Uint8Array(rows);
  try {
    const order = Uint32Array.from({ length: n }, (_, i) => i);
    const replayOrder = replay ? Uint32Array.from({ length: replay.count }, (_, i) => i) : null;
    const rng = createRng(s.seed ^ 0xf17e);
    const replayRng = createRng(s.seed ^ 0x4e91a7);
    if (replayOrder) shuffleInPlace(replayOrder, replayRng);
    let replayAt = 0;
    let step = 0;
    let work = 0;
    let replayRows = 0;
    const losses: number[] = [];
    const pull = s.anchor > 0;

    for (let epoch = 0; epoch < s.epochs; epoch++) {
      if (s.method === 'minibatch') shuffleInPlace(order, rng);
      let lossSum = 0;
      let lossRows = 0;
      for (let b = 0; b < plan.batchesPerEpoch; b++) {
        const from = b * plan.batch;
        const m = Math.min(plan.batch, n - from);
        for (let i = 0; i < m; i++) {
          const e = order[from + i];
          bx.set(examples.x.subarray(e * d, (e + 1) * d), i * d);
          by[i] = examples.labels[e];
        }
        let r = 0;
        if (replay && replayOrder) {
          for (; r < plan.replayPerBatch; r++) {
            if (replayAt === replayOrder.length) {
              shuffleInPlace(replayOrder, replayRng);
              replayAt = 0;
            }
            const e = replayOrder[replayAt++];
            bx.set(replay.x.subarray(e * d, (e + 1) * d), (m + r) * d);
            by[m + r] = replay.labels[e];
          }
        }
        if (s.schedule === 'cosine' && plan.steps > 1) {
          trainer.lr = s.learningRate * 0.5 * (1 + Math.cos((Math.PI * step) / plan.steps));
        }
        const result = trainer.step(bx, by, m + r);
        step++;
        if (!Number.isFinite(result.loss)) throw new UpdateDiverged(step, result.loss);
        if (pull) pullTowards(net.params, start, trainer.lr * 2 * s.anchor);
        lossSum += result.loss * (m + r);
        lossRows += m + r;
        work += m + r;
        replayRows += r;
      }
      losses.push(lossSum / lossRows);
    }
    const params = new Float32Array(net.params);
    for (let i = 0; i < params.length; i++) {
      if (!Number.isFinite(params[i])) throw new UpdateDiverged(0, NaN);
    }
    return { params, steps: step, work, replayRows, losses };
  } finally {
    kernels.free(bx);
    trainer.dispose();
    net.dispose();
  }
}

/** w ← w − rate·(w − w0), for every parameter. */
function pullTowards(w: Float32Array, w0: Float32Array, rate: number): void {
  rate = Math.min(1, rate);
  const keep = 1 - rate;
  for (let i = 0; i < w.length; i++) w[i] = keep * w[i] + rate * w0[i];
}
