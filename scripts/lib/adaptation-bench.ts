/**
 * @module
 * The adaptation benchmark's shared part (issue #14), for `scripts/adaptation-sweep.ts` and
 * `scripts/bench-adaptation.ts --offline`: a model with its fine-tune files, the new hand's sets as the worker sees
 * them, and one fine-tune run exactly as `/fine-tune` runs it (`resolveFineTune` + `runLineageFineTune`: defaults
 * fitted to the limits, the held-out slice, preparation, update from the master, one quantization, the guard),
 * scored as served on the held-out new hand and on plain MNIST digits outside everything else.
 */
import type { Preparation } from '../../src/data/preprocess.ts';
import { existsSync, readFileSync } from 'node:fs';
import { decodeCheckSet } from '../../src/format/check-set.ts';
import { decodeModel, type ModelData } from '../../src/format/index.ts';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { argmax } from '../../src/nn/classify.ts';
import { createPredictor, type UpdateSettings } from '../../src/nn/index.ts';
import {
  resolveFineTune,
  type FineTuneAsk,
  type FineTuneLimits,
} from '../../src/worker/fine-tune-settings.ts';
import {
  examplesAsServed,
  preparesInput,
  runLineageFineTune,
  type LabelledSet,
  type LineageFineTuneResult,
} from '../../src/worker/lineage-fine-tune.ts';
import type { GuardBounds } from '../../src/worker/lineage-guard.ts';
import { assetFiles } from './fine-tune-assets.ts';
import { loadDataset, MNIST_DIR } from './dataset.ts';
import { adaptationSplit, BENCH_HAND, type HandStyle, type LabelledImages } from './new-hand.ts';

/** The deployment's limits and bounds as `wrangler.toml` sets them (read from it, so they cannot drift). */
export function wranglerLimits(path = 'wrangler.toml'): { limits: FineTuneLimits; bounds: GuardBounds } {
  const text = readFileSync(path, 'utf8');
  const num = (name: string): number => {
    const m = new RegExp(`^${name}\\s*=\\s*"([^"]+)"`, 'm').exec(text);
    if (!m) throw new Error(`${path}: no ${name}`);
    return Number(m[1]);
  };
  return {
    limits: { maxWork: num('FINE_TUNE_MAX_WORK'), maxSteps: num('FINE_TUNE_MAX_STEPS') },
    bounds: {
      maxDrop: num('GUARD_MAX_ACCURACY_DROP'),
      maxClassDrop: num('GUARD_MAX_CLASS_DROP'),
      maxLineageDrop: num('GUARD_MAX_LINEAGE_DROP'),
      maxLineageClassDrop: num('GUARD_MAX_LINEAGE_CLASS_DROP'),
    },
  };
}

export interface BenchModel {
  path: string;
  model: ModelData;
  master: Uint8Array | null;
  check: { name: string; set: LabelledSet };
  replay: LabelledSet | null;
  /** How the worker prepares this model's JSON input (and so the fine-tune's examples); null: not at all. */
  prepares: Preparation | null;
}

/** A model blob and the files beside it (`x.master.bin`, `x.checkset.bin`, `x.replay.bin`). */
export function loadBenchModel(path: string): BenchModel {
  const files = assetFiles(path);
  const read = (file: string) => (existsSync(file) ? new Uint8Array(readFileSync(file)) : null);
  const model = decodeModel(read(path) ?? new Uint8Array());
  const check = read(files.checkSet);
  if (!check) throw new Error(`${files.checkSet} is missing: the guard has nothing to score on`);
  const replay = read(files.replaySet);
  return {
    path,
    model,
    master: model.metadata.master ? read(files.master) : null,
    check: { name: 'checksets/default', set: decodeCheckSet(check) },
    replay: replay && decodeCheckSet(replay),
    prepares: preparesInput(model),
  };
}

/** The pixels as the API carries them (0-255 integers), back in [0, 1]. */
export function asSent(s: LabelledImages): LabelledImages {
  return { ...s, images: Float32Array.from(s.images, (v) => Math.round(v * 255) / 255) };
}

export interface BenchSets {
  /** The new hand's 256 examples, as sent (the fine-tune prepares them itself). */
  adapt: LabelledImages;
  /** As sent, and as the worker's `/predict` feeds them to `bench`'s model. */
  heldOut: LabelledImages;
  mnist: LabelledImages;
  heldOutServed: LabelledImages;
  mnistServed: LabelledImages;
}

export function benchSets(bench: BenchModel, style: HandStyle = BENCH_HAND): BenchSets {
  const dataset = loadDataset(MNIST_DIR, { limit: 10 });
  const split = adaptationSplit(dataset.test, 256, 2000, style);
  const heldOut = asSent(split.heldOut);
  const mnist = asSent(split.mnist);
  const served = (s: LabelledImages): LabelledImages => {
    const r = examplesAsServed({ x: s.images, count: s.count }, bench.prepares);
    return { ...s, images: r.x };
  };
  return {
    adapt: asSent(split.adapt),
    heldOut,
    mnist,
    heldOutServed: served(heldOut),
    mnistServed: served(mnist),
  };
}

/** Accuracy of a model on images already as the network sees them. */
export function accuracyOf(model: ModelData, set: LabelledImages, kernels: Kernels): number {
  const p = createPredictor(model, kernels);
  try {
    let right = 0;
    for (let from = 0; from < set.count; from += 500) {
      const n = Math.min(500, set.count - from);
      const probs = p.predict(set.images.subarray(from * 784, (from + n) * 784), n);
      for (let i = 0; i < n; i++) if (argmax(probs, i * 10, 10) === set.labels[from + i]) right++;
    }
    return right / set.count;
  } finally {
    p.dispose();
  }
}

export interface AdaptationRun {
  plan: ReturnType<typeof resolveFineTune>;
  result: LineageFineTuneResult;
  ms: number;
  /** Held-out new hand and MNIST, served child; held-out by the float32 result of the same update. */
  held: number;
  mnist: number;
  heldF32: number;
}

/**
 * One `/fine-tune` of the 256 new-hand examples with `ask`, computed as the worker computes it; with `exact`, the
 * settings and hold-out a worker answered with, to recompute its update.
 */
export function runAdaptation(
  bench: BenchModel,
  sets: BenchSets,
  ask: FineTuneAsk,
  kernels: Kernels,
  deployment = wranglerLimits(),
  exact?: { settings: UpdateSettings; holdOut: number | null },
): AdaptationRun {
  const resolved = resolveFineTune(ask, sets.adapt.count, deployment.limits, bench.replay !== null);
  if (resolved.problems.length) throw new Error(`refused: ${resolved.problems.join('; ')}`);
  const plan = exact ? { ...resolved, ...exact } : resolved;
  const t = performance.now();
  const result = runLineageFineTune({
    parent: bench.model,
    parentVersion: 'root',
    parentMaster: bench.master,
    examples: { x: sets.adapt.images, labels: sets.adapt.labels, count: sets.adapt.count },
    preprocess: ask.preprocess,
    settings: plan.settings,
    holdOut: plan.holdOut,
    holdOutAsked: ask.holdOut !== undefined,
    checkSet: bench.check,
    replay: plan.settings.replay > 0 ? bench.replay : null,
    bounds: deployment.bounds,
    kernels,
  });
  const ms = performance.now() - t;
  const served = decodeModel(result.bytes);
  const f32 = result.masterBytes ? decodeModel(result.masterBytes) : served;
  return {
    plan,
    result,
    ms,
    held: accuracyOf(served, sets.heldOutServed, kernels),
    mnist: accuracyOf(served, sets.mnistServed, kernels),
    heldF32: accuracyOf(f32, sets.heldOutServed, kernels),
  };
}
