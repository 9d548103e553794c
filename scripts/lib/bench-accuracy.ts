/**
 * @module
 * Time to accuracy for `npm run bench -- --time-to-accuracy`: trains as `npm run train` does with the flags given
 * (same split, shuffles, outlier exposure and learning-rate schedule) and reports the seconds of training,
 * evaluation excluded, until the test accuracy first reaches each target. Writes no model; runs no peer.
 */
import type { Kernels } from '../../src/kernels/kernels.ts';
import { asServed, setUpTraining, splitForTraining } from './training-setup.ts';
import type { Dataset } from './dataset.ts';
import { parseTrainArgs } from './train-options.ts';
import { outlierExposureRows } from './unsure-training.ts';
import type { PeerRecipe, PeerTimeToAccuracy } from './bench-peers.ts';

export interface AccuracyPoint {
  /** Fractional epochs trained so far (1.00 at the end of the first). */
  epoch: number;
  /** Whether this evaluation closed an epoch (the only evaluations a once-per-epoch trainer makes). */
  epochEnd: boolean;
  trainSeconds: number;
  testAccuracy: number;
}

/** When one target was first reached; `seconds` null if it never was. */
export interface Reached {
  target: number;
  seconds: number | null;
  /** Fractional epochs trained by then; null if never reached. */
  epoch: number | null;
}

export interface TimeToAccuracy {
  targets: number[];
  kernels: string;
  recipe: string;
  /** Per target, at the first evaluation that reached it. */
  reached: Reached[];
  /** Per target, at the first epoch end that reached it (comparable with a trainer that evaluates per epoch). */
  reachedAtEpochEnd: Reached[];
  /** Fractional epochs run (all of them unless the highest target was reached), and the schedule's length. */
  epochs: number;
  scheduledEpochs: number;
  evalsPerEpoch: number;
  bestAccuracy: number;
  points: AccuracyPoint[];
}

export interface TimeToAccuracyOptions {
  /** Accuracies to time, as fractions; training stops once the highest is reached. */
  targets?: number[];
  evalsPerEpoch?: number;
  /** Flags of `scripts/train.ts` on top of its defaults (e.g. `--no-augment`, `--epochs 20`). */
  trainArgs?: string[];
  log?: (line: string) => void;
}

/** The first point at or above `target` (only epoch ends if `epochEndsOnly`) as a `Reached`. */
export function firstReached(points: AccuracyPoint[], target: number, epochEndsOnly = false): Reached {
  const hit = points.find((p) => p.testAccuracy >= target && (!epochEndsOnly || p.epochEnd));
  return { target, seconds: hit ? hit.trainSeconds : null, epoch: hit ? hit.epoch : null };
}

/** A percentage without trailing zeros: 0.98 → "98%", 0.985 → "98.5%". */
export function percent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(2))}%`;
}

/** "60 epochs", "1 epoch", "2.5 epochs". */
export function epochsText(epochs: number): string {
  const n = Number(epochs.toFixed(2));
  return `${n} epoch${n === 1 ? '' : 's'}`;
}

/** "98% in 12.3 s (epoch 4.00)" or "98% not reached in 60 epochs". */
export function describeReached(r: Reached, epochsRun: number): string {
  return r.seconds === null || r.epoch === null
    ? `${percent(r.target)} not reached in ${epochsText(epochsRun)}`
    : `${percent(r.target)} in ${r.seconds.toFixed(1)} s (epoch ${r.epoch.toFixed(2)})`;
}

/**
 * Trains on `dataset` with the default flags of `scripts/train.ts` plus `trainArgs`, evaluating the test set as
 * served `evalsPerEpoch` times per epoch (always at the epoch's end); stops at the highest target.
 */
export function timeToAccuracy(
  dataset: Dataset,
  kernels: Kernels,
  options: TimeToAccuracyOptions = {},
): TimeToAccuracy {
  const { targets = [0.98, 0.99], evalsPerEpoch = 4, trainArgs = [], log } = options;
  const o = parseTrainArgs(trainArgs);
  const { train } = splitForTraining(dataset, o);
  const run = setUpTraining(dataset, train, o, kernels, { log: (line) => log?.(`  ${line}`) });
  const { spec, net, batches, batch, stepsPerEpoch } = run;
  const test = asServed(dataset.test, o);
  const evalEvery = Math.ceil(stepsPerEpoch / evalsPerEpoch);
  const oe = outlierExposureRows(o, dataset.name);
  const recipe =
    `${spec.sizes.join('-')}, ${o.optimizer} lr ${o.lr} momentum ${o.momentum} l2 ${o.l2}, batch ${batch}, ` +
    `${o.lrSchedule} schedule over ${o.epochs} epochs (per step), ${o.init} init, ${batches.describe()}, ` +
    `outlier exposure ${oe === 0 ? 'off' : `${oe} rows per batch`}, ${train.count} training examples`;
  const highest = Math.max(...targets);
  const points: AccuracyPoint[] = [];
  let trainMs = 0;
  outer: for (let epoch = 1; epoch <= o.epochs; epoch++) {
    let t0 = performance.now();
    for (const p of run.epoch()) {
      const last = p.seen >= train.count;
      if (p.steps % evalEvery !== 0 && !last) continue;
      trainMs += performance.now() - t0;
      const accuracy = net.evaluate(test.images, test.labels, test.count).accuracy;
      const at = run.step / stepsPerEpoch;
      points.push({ epoch: at, epochEnd: last, trainSeconds: trainMs / 1000, testAccuracy: accuracy });
      log?.(
        `  epoch ${at.toFixed(2)}: test ${(accuracy * 100).toFixed(2)}% after ` +
          `${(trainMs / 1000).toFixed(1)} s of training`,
      );
      if (accuracy >= highest) break outer;
      t0 = performance.now();
    }
  }
  run.dispose();
  net.dispose();
  return {
    targets,
    kernels: kernels.name,
    recipe,
    reached: targets.map((t) => firstReached(points, t)),
    reachedAtEpochEnd: targets.map((t) => firstReached(points, t, true)),
    epochs: run.step / stepsPerEpoch,
    scheduledEpochs: o.epochs,
    evalsPerEpoch,
    bestAccuracy: Math.max(0, ...points.map((p) => p.testAccuracy)),
    points,
  };
}

/**
 * Issue 17's verdict on "98% in at most the peer's time": true if ours reached the target no later than the peer
 * (or the peer never did), false if ours never did or later; null if neither reached it or a side is missing.
 */
export function atMostPeersTime(ours: Reached | null, peer: Reached | null): boolean | null {
  if (!ours || !peer) return null;
  if (ours.seconds === null) return peer.seconds === null ? null : false;
  return peer.seconds === null || ours.seconds <= peer.seconds;
}

/** Our `scripts/train.ts` flags for the peer recipe: no augmentation, preprocessing, outlier exposure or L2. */
export function peerRecipeTrainArgs(recipe: PeerRecipe): string[] {
  return [
    ...['--no-augment', '--no-preprocess', '--oe', '0', '--l2', '0', '--optimizer', 'sgd', '--init', 'he'],
    ...['--lr-schedule', 'cosine', '--epochs', String(recipe.epochs), '--batch', String(recipe.batch)],
    ...['--lr', String(recipe.lr), '--momentum', String(recipe.momentum)],
    ...['--val-frac', String(recipe.valFrac), '--seed', String(recipe.seed)],
  ];
}

/** Everything `--time-to-accuracy` measured: the default recipe (ours alone) and the peer recipe (both). */
export interface TimeToAccuracyReport {
  epochs: number;
  defaultRecipe: TimeToAccuracy;
  peerRecipe: PeerRecipe;
  oursOnPeerRecipe: TimeToAccuracy;
  /** null: the peer was skipped or failed (`torchError` says which). */
  torchOnPeerRecipe: PeerTimeToAccuracy | null;
  torchError: string | null;
}

/** What the peer recipe shares between the two trainers, and what it cannot. */
export const PEER_RECIPE_DIFFERENCES =
  "Same on both sides: 784-1024-512-10, LeakyReLU 0.01, He normal init (std √(2/fan-in); PyTorch's " +
  'kaiming_normal_ with a = 0.01 is 0.005% smaller), zero biases, SGD v = μv + g, w −= lr·v, a fresh shuffle ' +
  'each epoch with a partial last batch, the same number of held-out examples (not trained on), pixels / 255, ' +
  'no weight decay (our default l2 1e-5 is dropped: the peer has no plain weight decay), seconds of training ' +
  "only. Different: our cosine steps per batch to 0 at the end, PyTorch's CosineAnnealingLR steps per epoch " +
  '(constant within an epoch, lr·(1+cos(π(T−1)/T))/2 in the last); PyTorch evaluates the test set once per ' +
  'epoch, so the pair is compared at epoch ends; random streams (init, split, shuffles) differ; ours runs ' +
  'its kernels on every core (named above), PyTorch `--threads 1` (its fastest setting on this machine, ../shared/peers/README.md).';

/** The lines `npm run bench` prints for `--time-to-accuracy`, after the tables. */
export function renderTimeToAccuracy(r: TimeToAccuracyReport): string[] {
  const all = (reached: Reached[], epochs: number) =>
    reached.map((x) => describeReached(x, epochs)).join(', ');
  const best = (v: number) => `best ${(v * 100).toFixed(2)}%`;
  const d = r.defaultRecipe;
  const ours = r.oursOnPeerRecipe;
  const torch = r.torchOnPeerRecipe;
  return [
    `Time to accuracy (seconds of training, test-set evaluation excluded; ${epochsText(r.epochs)} scheduled per run):`,
    `- default recipe, ours (${d.kernels}): ${all(d.reached, d.epochs)}; ${best(d.bestAccuracy)}. ` +
      `Recipe: ${d.recipe}; ${d.evalsPerEpoch} test evaluations per epoch.`,
    `- peer recipe, ours (${ours.kernels}), at epoch ends: ${all(ours.reachedAtEpochEnd, ours.epochs)}; ` +
      `at the first of ${ours.evalsPerEpoch} evaluations per epoch: ${all(ours.reached, ours.epochs)}; ${best(ours.bestAccuracy)}. ` +
      `Recipe: ${ours.recipe}.`,
    torch
      ? `- peer recipe, PyTorch (--threads 1), at epoch ends: ${all(torch.reached, torch.epochs)}; ` +
        `${best(torch.bestAccuracy)}; ${torch.trainCount} training examples. Command: ${torch.command}.`
      : `- peer recipe, PyTorch: not measured (${r.torchError ?? 'skipped'}).`,
    PEER_RECIPE_DIFFERENCES,
  ];
}

/** Issue 17's verdict line: 98% on the peer recipe at epoch ends, ours against PyTorch's; 99% reported. */
export function timeToAccuracyTarget(r: TimeToAccuracyReport | null): { ok: boolean | null; text: string } {
  const label = "time to 98% test accuracy ≤ the PyTorch peer's, same recipe, same run";
  if (!r) return { ok: null, text: `${label}: run with --time-to-accuracy` };
  const at = (reached: Reached[] | undefined, target: number) =>
    reached?.find((x) => x.target === target) ?? null;
  const secs = (x: Reached | null) => (x?.seconds == null ? 'not reached' : `${x.seconds.toFixed(1)} s`);
  const [ours98, ours99] = [0.98, 0.99].map((t) => at(r.oursOnPeerRecipe.reachedAtEpochEnd, t));
  const [torch98, torch99] = [0.98, 0.99].map((t) => at(r.torchOnPeerRecipe?.reached, t));
  const [def98, def99] = [0.98, 0.99].map((t) => at(r.defaultRecipe.reached, t));
  return {
    ok: atMostPeersTime(ours98, torch98),
    text:
      `${label}: ours ${secs(ours98)} vs PyTorch ${r.torchOnPeerRecipe ? secs(torch98) : 'not measured'}; ` +
      `99%: ours ${secs(ours99)}, PyTorch ${r.torchOnPeerRecipe ? secs(torch99) : 'not measured'} ` +
      `(${epochsText(r.epochs)}); the default recipe: 98% ${secs(def98)}, 99% ${secs(def99)}`,
  };
}
