/**
 * @module
 * `npx tsx scripts/calibration-experiment.ts [--model models/default.bin] [--limit 2000] [--count 2000]`:
 * which images the temperature should be fitted on. Refits a trained blob's temperature on its validation
 * split clean, augmented by its own training recipe (a stream of its own) and mixed (`calibration-set.ts`), and
 * reports, for each temperature, ECE and NLL on MNIST test and on every row of the robustness table (as
 * `eval-robustness` builds them: `--limit` digits, seed 1, browser rows from the cache), and the verdict figures
 * of `eval-ood` that depend on it. The weights are not touched; temperature never changes the argmax.
 * Prints Markdown. Not a trainer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { applyTemperature, DEFAULT_POLICY } from '../src/data/verdict.ts';
import { decodeModel, preparationOf, type ModelData } from '../src/format/index.ts';
import { argmax, createPredictor, createRng, type Predictor } from '../src/nn/index.ts';
import { browserSets, CHROMIUM } from './lib/browser-digits.ts';
import { expectedCalibrationError, fitTemperature, negativeLogLikelihood } from './lib/calibrate.ts';
import { CALIBRATE_ON, CALIBRATION_STREAM, calibrationSet, recipeOf } from './lib/calibration-set.ts';
import { prepareInto } from './lib/batches.ts';
import { loadDataset, MNIST_DIR, type Examples } from './lib/dataset.ts';
import { loadKernels } from './lib/kernels-node.ts';
import { HELD_OUT_KINDS, TRAIN_KINDS, type NegativeKind } from './lib/negatives.ts';
import { verdictShares } from './lib/ood-metrics.ts';
import { FASHION_DIR, heldOutSeedNegatives } from './lib/outlier-exposure.ts';
import { corruptionSets, servedInput, type Pipeline, type RobustnessSet } from './lib/robustness.ts';
import { splitForTraining } from './lib/training-setup.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default.bin' },
    baseline: { type: 'string', default: 'git:38fdb6c:models/default.bin' },
    limit: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '1' },
    count: { type: 'string', default: '2000' },
    'ood-seed': { type: 'string', default: '20261201' },
  },
  strict: true,
});

function readModel(ref: string): ModelData {
  const [, rev, ...path] = ref.split(':');
  const bytes = ref.startsWith('git:')
    ? execFileSync('git', ['show', `${rev}:${path.join(':')}`], { maxBuffer: 1 << 28 })
    : readFileSync(ref);
  return decodeModel(new Uint8Array(bytes));
}

const started = performance.now();
const log = (line: string) =>
  console.error(`calibration-experiment: ${line} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
const model = readModel(values.model!);
const baseline = readModel(values.baseline!);
const recipe = recipeOf(model.metadata.training);
if (!recipe?.augmentation)
  throw new Error(`${values.model}: no training recipe with augmentation in its metadata`);
const training = model.metadata.training as { valFrac: number; seed: number };
const prepared = preparationOf(model.metadata) !== null;
const preparation = preparationOf(model.metadata) ?? {};
const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
const predictor = createPredictor(model, kernels);
const basePredictor = createPredictor(baseline, kernels);

/** Uncalibrated (T = 1) probabilities [n×10] of network inputs [n×784]. */
function probabilitiesOf(p: Predictor, x: Float32Array): Float32Array {
  const n = x.length / 784;
  const out = new Float32Array(n * 10);
  for (let s = 0; s < n; s += 1000) {
    const m = Math.min(1000, n - s);
    out.set(p.predict(x.subarray(s * 784, (s + m) * 784), m), s * 10);
  }
  return out;
}
const asServed = (images: Float32Array) => {
  if (!prepared) return images;
  const x = new Float32Array(images.length);
  for (let i = 0; i < images.length / 784; i++)
    prepareInto(images.subarray(i * 784, (i + 1) * 784), x.subarray(i * 784, (i + 1) * 784), preparation);
  return x;
};

// 1. The temperatures: the blob's validation split, re-drawn from its metadata, clean / augmented / mixed.
const mnist = loadDataset(MNIST_DIR);
const { validation } = splitForTraining(mnist, training);
const temperatures: { name: string; t: number; n: number }[] = [{ name: 'T = 1 (none)', t: 1, n: 0 }];
for (const on of CALIBRATE_ON) {
  const set = calibrationSet(validation, on, recipe);
  temperatures.push({
    name: on,
    t: fitTemperature(probabilitiesOf(predictor, set.images), set.labels),
    n: set.count,
  });
}
// How much the augmented temperature moves with the draw: three more streams.
const streams = [1, 2, 3].map((k) => {
  const set = calibrationSet(validation, 'augmented', recipe, (recipe.seed ^ CALIBRATION_STREAM) + k * 7919);
  return fitTemperature(probabilitiesOf(predictor, set.images), set.labels);
});
log(
  `temperatures ${temperatures.map((t) => `${t.name} ${t.t}`).join(', ')}; augmented, other draws ${streams}`,
);

// 2. The rows: MNIST test (all of it) and the robustness table's rows, as /predict serves them.
interface Row {
  name: string;
  probs: Float32Array;
  labels: ArrayLike<number>;
  /** The old model's calibrated ECE on the row, as `eval-robustness` reports it (its pipeline, its T). */
  oldEce: number | null;
}
function rowOf(set: RobustnessSet): Row {
  const through = (p: Predictor, pipeline: Pipeline) => {
    const kept: number[] = [];
    const inputs: Float32Array[] = [];
    set.images.forEach((image, i) => {
      const input = servedInput(image, pipeline);
      if (input) (kept.push(i), inputs.push(input));
    });
    const x = new Float32Array(inputs.length * 784);
    inputs.forEach((input, i) => x.set(input, i * 784));
    return { probs: probabilitiesOf(p, x), labels: kept.map((i) => set.labels![i]) };
  };
  const mine = through(predictor, 'preprocess');
  const old = through(basePredictor, 'served-before');
  applyTemperature(old.probs, 10, baseline.metadata.calibration?.temperature ?? 1);
  return { name: set.name, ...mine, oldEce: expectedCalibrationError(old.probs, old.labels) };
}
const rows: Row[] = [
  {
    name: 'MNIST test (10,000)',
    probs: probabilitiesOf(predictor, asServed(mnist.test.images)),
    labels: mnist.test.labels,
    oldEce: null,
  },
];
const sets = corruptionSets(mnist.test, { limit: Number(values.limit), seed: Number(values.seed) });
if (existsSync(CHROMIUM)) sets.push(...(await browserSets({ seed: Number(values.seed) })));
else log(`no Chromium at ${CHROMIUM}: no drawn or typed rows`);
for (const set of sets) rows.push(rowOf(set));
log(`${rows.length} labelled rows`);

const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(2)}%`);
const at = (probs: Float32Array, t: number) => applyTemperature(probs.slice(), 10, t);
const fitted = temperatures.slice(1);

console.log(
  `Model \`${values.model}\` (${model.encoding}, stored T ${model.metadata.calibration?.temperature ?? 1}), ` +
    `validation split re-drawn from its metadata (seed ${training.seed}, val-frac ${training.valFrac}): ` +
    `${validation.count} digits; augmented with the training recipe from stream seed ^ 0x${CALIBRATION_STREAM.toString(16)}.\n`,
);
console.log('| fitted on | images | T |');
console.log('| --- | --: | --: |');
for (const t of fitted) console.log(`| ${t.name} | ${t.n} | ${t.t} |`);
console.log(`\nAugmented, three other draws of the augmentation: T = ${streams.join(', ')}.\n`);

console.log(
  `| row | old ECE | ${fitted.map((t) => `ECE ${t.name} (T ${t.t})`).join(' | ')} | ${fitted.map((t) => `NLL ${t.name}`).join(' | ')} | best ECE |`,
);
console.log(
  `| --- | --: | ${fitted.map(() => '--:').join(' | ')} | ${fitted.map(() => '--:').join(' | ')} | --- |`,
);
const wins = new Map(fitted.map((t) => [t.name, 0]));
const beatsOld = new Map(fitted.map((t) => [t.name, 0]));
for (const row of rows) {
  const eces = fitted.map((t) => expectedCalibrationError(at(row.probs, t.t), row.labels));
  const nlls = fitted.map((t) => negativeLogLikelihood(at(row.probs, t.t), row.labels));
  const best = eces.indexOf(Math.min(...eces));
  if (row.oldEce !== null) {
    wins.set(fitted[best].name, wins.get(fitted[best].name)! + 1);
    fitted.forEach((t, k) => eces[k] < row.oldEce! && beatsOld.set(t.name, beatsOld.get(t.name)! + 1));
  }
  console.log(
    `| ${row.name} | ${pct(row.oldEce)} | ${eces.map(pct).join(' | ')} | ${nlls.map((v) => v.toFixed(4)).join(' | ')} | ${fitted[best].name} |`,
  );
}
const tableRows = rows.filter((r) => r.oldEce !== null).length;
console.log(
  `\nOf the ${tableRows} robustness rows: lowest ECE ${[...wins].map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
    `below the old model's ECE ${[...beatsOld].map(([k, v]) => `${k} ${v}`).join(', ')}.\n`,
);

// Diagnostics only, never a choice: how far each row is from any one temperature (its own best T, fitted on the
// row itself), which way it errs at T clean, and how much its ECE moves with the sample (bootstrap).
const tClean = fitted.find((t) => t.name === 'clean')!.t;
const rng = createRng(0xb007);
function bootstrapSd(probs: Float32Array, labels: ArrayLike<number>, t: number): number {
  const scaled = at(probs, t);
  const n = labels.length;
  const p = new Float32Array(n * 10);
  const l = new Uint8Array(n);
  const eces: number[] = [];
  for (let r = 0; r < 200; r++) {
    for (let i = 0; i < n; i++) {
      const j = Math.floor(rng() * n);
      p.set(scaled.subarray(j * 10, j * 10 + 10), i * 10);
      l[i] = labels[j];
    }
    eces.push(expectedCalibrationError(p, l));
  }
  const m = eces.reduce((a, b) => a + b, 0) / eces.length;
  return Math.sqrt(eces.reduce((a, b) => a + (b - m) ** 2, 0) / (eces.length - 1));
}
console.log(
  `| row | accuracy | mean confidence − accuracy at T clean | ECE at T clean ± bootstrap sd | the row's own best T (diagnostic) | ECE at it | old ECE |`,
);
console.log('| --- | --: | --: | --: | --: | --: | --: |');
for (const row of rows) {
  const probs = at(row.probs, tClean);
  let conf = 0;
  let right = 0;
  for (let i = 0; i < row.labels.length; i++) {
    const a = argmax(probs, i * 10, 10);
    conf += probs[i * 10 + a];
    if (a === row.labels[i]) right++;
  }
  const n = row.labels.length;
  const own = fitTemperature(row.probs, row.labels);
  const sign = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(2)} pt`;
  console.log(
    `| ${row.name} | ${pct(right / n)} | ${sign((conf - right) / n)} | ${pct(expectedCalibrationError(probs, row.labels))} ± ` +
      `${(bootstrapSd(row.probs, row.labels, tClean) * 100).toFixed(2)} | ${own} | ` +
      `${pct(expectedCalibrationError(at(row.probs, own), row.labels))} | ${pct(row.oldEce)} |`,
  );
}
console.log('');

// 3. eval-ood's figures that move with T: the verdict on MNIST test and on the held-out non-digits.
const count = Number(values.count);
const oodSeed = Number(values['ood-seed']);
const source = heldOutSeedNegatives(oodSeed, count);
const negatives: { name: string; unseen: boolean; probs: Float32Array }[] = [];
for (const kind of TRAIN_KINDS) {
  if (kind === 'fashion') continue;
  negatives.push({
    name: kind,
    unseen: false,
    probs: probabilitiesOf(predictor, asServed(source.batch(kind, count))),
  });
}
try {
  const fashion = loadDataset(FASHION_DIR).test.images.slice(0, count * 784);
  negatives.push({ name: 'fashion', unseen: false, probs: probabilitiesOf(predictor, asServed(fashion)) });
} catch {
  log(`no Fashion-MNIST at ${FASHION_DIR}; its row is left out`);
}
for (const kind of HELD_OUT_KINDS as readonly NegativeKind[]) {
  negatives.push({
    name: kind,
    unseen: true,
    probs: probabilitiesOf(predictor, asServed(source.batch(kind, count))),
  });
}
log(`${negatives.length} non-digit rows of ${count}`);
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const digits = rows[0];
console.log(
  `eval-ood's verdict at the default policy (lead ≥ ${DEFAULT_POLICY.minMargin}, top two ≥ ${DEFAULT_POLICY.minTopTwo}), ` +
    `${count} per non-digit row, seed ${oodSeed}; "flagged" = not confident.\n`,
);
console.log(
  '| T fitted on | min confidence | MNIST flagged | MNIST not a digit | accepted accuracy | non-digits flagged (10 rows) | unseen kinds | worst row |',
);
console.log('| --- | --: | --: | --: | --: | --: | --: | --: |');
for (const t of fitted) {
  for (const minConfidence of [0.9, 0.5]) {
    const policy = { ...DEFAULT_POLICY, minConfidence };
    const d = verdictShares(at(digits.probs, t.t), policy, digits.labels);
    const flagged = negatives.map((n) => ({
      ...n,
      f: 1 - verdictShares(at(n.probs, t.t), policy).shares.confident,
    }));
    const worst = flagged.reduce((a, b) => (b.f < a.f ? b : a));
    console.log(
      `| ${t.name} (T ${t.t}) | ${minConfidence} | ${pct(1 - d.shares.confident)} | ${pct(d.shares.not_a_digit)} | ` +
        `${pct(d.acceptedAccuracy)} | ${pct(mean(flagged.map((f) => f.f)))} | ${pct(mean(flagged.filter((f) => f.unseen).map((f) => f.f)))} | ` +
        `${pct(worst.f)} (${worst.name}) |`,
    );
  }
}

// What-if, never a choice (no temperature here is fitted on anything): the same figures on a grid of T.
console.log(
  '\nWhat-if grid (not fitted; for the direction only): ECE over the robustness rows and the verdict at 0.9.\n',
);
console.log(
  '| T | MNIST test ECE | mean ECE of the 14 rows | rows below the old ECE | MNIST flagged at 0.9 | accepted accuracy | non-digits flagged | unseen kinds |',
);
console.log('| --: | --: | --: | --: | --: | --: | --: | --: |');
for (const t of [0.5, 0.55, 0.6, 0.65, tClean, 0.75, 0.8]) {
  const table = rows.filter((r) => r.oldEce !== null);
  const eces = table.map((r) => expectedCalibrationError(at(r.probs, t), r.labels));
  const d = verdictShares(at(digits.probs, t), DEFAULT_POLICY, digits.labels);
  const f = negatives.map((n) => ({
    unseen: n.unseen,
    f: 1 - verdictShares(at(n.probs, t), DEFAULT_POLICY).shares.confident,
  }));
  console.log(
    `| ${t} | ${pct(expectedCalibrationError(at(digits.probs, t), digits.labels))} | ${pct(mean(eces))} | ` +
      `${eces.filter((e, k) => e < table[k].oldEce!).length} | ${pct(1 - d.shares.confident)} | ${pct(d.acceptedAccuracy)} | ` +
      `${pct(mean(f.map((x) => x.f)))} | ${pct(mean(f.filter((x) => x.unseen).map((x) => x.f)))} |`,
  );
}
predictor.dispose();
basePredictor.dispose();
await kernels.dispose();
log('done');
