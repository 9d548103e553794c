/**
 * @module
 * `npm run eval-ood -- [--model models/default.bin]… [--count 2000] [--seed 20261201] [--policy 0.9,0.5,0.7]`:
 * how well each model knows when it does not know. For MNIST test and for each kind of held-out non-digit (the
 * training kinds drawn from another seed, the kinds training never sees, Fashion-MNIST's test split) and of
 * near-blank input: the verdicts' shares, the AUROC of three digit-ness scores, calibration (ECE, 15 bins), and
 * the verdict's cost per image. Prints Markdown. Not a trainer.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { toGray, toInk } from '../src/data/preprocess.ts';
import {
  applyTemperature,
  DEFAULT_POLICY,
  isBlank,
  isBlankInk,
  judge,
  type VerdictPolicy,
} from '../src/data/verdict.ts';
import { decodeModel, preparationOf } from '../src/format/index.ts';
import { argmax, createPredictor, Mlp, Workspace } from '../src/nn/index.ts';
import { expectedCalibrationError, negativeLogLikelihood } from './lib/calibrate.ts';
import { prepareInto } from './lib/batches.ts';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { loadKernels } from './lib/kernels-node.ts';
import { BLANK_KINDS, HELD_OUT_KINDS, makeBlanks, TRAIN_KINDS, type NegativeKind } from './lib/negatives.ts';
import {
  atDigitsFlagged,
  auroc,
  maxProbability,
  negativeEnergy,
  topTwoMass,
  verdictShares,
} from './lib/ood-metrics.ts';
import { FASHION_DIR, heldOutSeedNegatives } from './lib/outlier-exposure.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', multiple: true, default: ['models/default.bin'] },
    count: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '20261201' },
    policy: { type: 'string' },
  },
});
const count = Number(values.count);
const seed = Number(values.seed);
const policy: VerdictPolicy = values.policy
  ? (([minConfidence, minMargin, minTopTwo]) => ({ minConfidence, minMargin, minTopTwo }))(
      values.policy.split(',').map(Number),
    )
  : DEFAULT_POLICY;

const mnist = loadDataset(MNIST_DIR);
let fashionTest: Float32Array | null = null;
try {
  fashionTest = loadDataset(FASHION_DIR).test.images;
} catch {
  console.error(`eval-ood: no Fashion-MNIST at ${FASHION_DIR}; its row is left out`);
}

// The held-out non-digits: training kinds from another seed's stream, kinds training never draws, clothing
// from the test split (training draws from the training split).
const sets: { name: string; heldOutKind: boolean; x: Float32Array }[] = [];
const source = heldOutSeedNegatives(seed, count);
for (const kind of TRAIN_KINDS) {
  if (kind === 'fashion') continue;
  sets.push({ name: `${kind} (new seed)`, heldOutKind: false, x: source.batch(kind, count) });
}
if (fashionTest) {
  sets.push({ name: 'fashion (test split)', heldOutKind: false, x: fashionTest.slice(0, count * 784) });
}
for (const kind of HELD_OUT_KINDS as readonly NegativeKind[]) {
  sets.push({ name: `${kind} (unseen kind)`, heldOutKind: true, x: source.batch(kind, count) });
}

const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(2)}%`);
const f3 = (v: number) => v.toFixed(4);

console.log(
  `Policy: confident at ≥ ${policy.minConfidence} with a lead ≥ ${policy.minMargin}; not a digit when the top two ` +
    `hold < ${policy.minTopTwo}. ${count} images per non-digit row, seed ${seed}; MNIST test ${mnist.test.count}.\n`,
);

for (const path of values.model!) {
  // A file, or `git:REV:PATH` for a model as committed at REV.
  const [, rev, ...inRepo] = path.split(':');
  const bytes = path.startsWith('git:')
    ? execFileSync('git', ['show', `${rev}:${inRepo.join(':')}`], { maxBuffer: 1 << 28 })
    : readFileSync(path);
  const model = decodeModel(new Uint8Array(bytes));
  const calibration = model.metadata.calibration as { temperature?: number } | undefined;
  const temperature = calibration?.temperature ?? 1;
  // As JSON /predict serves it: prepared like its training images when it was trained on prepared ones.
  const preparation = preparationOf(model.metadata);
  const prepared = preparation !== null;
  const predictor = createPredictor(model, kernels);
  const net = Mlp.fromParams({ sizes: model.sizes, alpha: model.alpha }, kernels, model.params);
  const ws = new Workspace(kernels, model.sizes, 500);
  const run = (input: Float32Array) => {
    const n = input.length / 784;
    const x = prepared ? new Float32Array(input.length) : input;
    if (prepared) {
      for (let i = 0; i < n; i++)
        prepareInto(input.subarray(i * 784, (i + 1) * 784), x.subarray(i * 784, (i + 1) * 784), preparation);
    }
    const probs = new Float32Array(n * 10);
    const logits = new Float32Array(n * 10);
    for (let s = 0; s < n; s += 500) {
      const rows = Math.min(500, n - s);
      const part = x.subarray(s * 784, (s + rows) * 784);
      probs.set(predictor.predict(part, rows), s * 10);
      logits.set(net.forward(ws, part, rows).subarray(0, rows * 10), s * 10);
    }
    return { raw: probs.slice(), probs: applyTemperature(probs, 10, temperature), logits };
  };
  const digits = run(mnist.test.images);
  const labels = mnist.test.labels;
  const scores = (r: ReturnType<typeof run>) => ({
    msp: maxProbability(r.probs),
    top2: topTwoMass(r.probs),
    energy: negativeEnergy(r.logits),
  });
  const digitScores = scores(digits);
  const d = verdictShares(digits.probs, policy, labels);
  const predicted = Int32Array.from({ length: labels.length }, (_, i) => argmax(digits.probs, i * 10, 10));
  const accuracy = predicted.filter((p, i) => p === labels[i]).length;

  console.log(
    `### ${path} (${model.encoding}, temperature ${temperature}, ${prepared ? 'inputs preprocessed' : 'inputs as they are'} as /predict serves it)\n`,
  );
  console.log(
    `MNIST test: accuracy ${pct(accuracy / labels.length)}; ECE ${pct(expectedCalibrationError(digits.raw, labels))} ` +
      `uncalibrated, ${pct(expectedCalibrationError(digits.probs, labels))} calibrated; NLL ` +
      `${f3(negativeLogLikelihood(digits.raw, labels))} → ${f3(negativeLogLikelihood(digits.probs, labels))}; ` +
      `accepted (confident) accuracy ${pct(d.acceptedAccuracy)}.\n`,
  );
  console.log(
    '| input | n | confident | uncertain | not a digit | flagged | AUROC max-p | AUROC top-2 | AUROC energy |',
  );
  console.log('| --- | --: | --: | --: | --: | --: | --: | --: | --: |');
  console.log(
    `| MNIST test digits | ${d.count} | ${pct(d.shares.confident)} | ${pct(d.shares.uncertain)} | ` +
      `${pct(d.shares.not_a_digit)} | ${pct(1 - d.shares.confident)} | | | |`,
  );
  const pooled = { seen: [] as number[], unseen: [] as number[] };
  const kept: { probs: Float32Array; heldOutKind: boolean }[] = [];
  for (const set of sets) {
    const r = run(set.x);
    kept.push({ probs: r.probs, heldOutKind: set.heldOutKind });
    const s = scores(r);
    const v = verdictShares(r.probs, policy);
    const flagged = 1 - v.shares.confident;
    (set.heldOutKind ? pooled.unseen : pooled.seen).push(flagged);
    console.log(
      `| ${set.name} | ${v.count} | ${pct(v.shares.confident)} | ${pct(v.shares.uncertain)} | ` +
        `${pct(v.shares.not_a_digit)} | **${pct(flagged)}** | ${f3(auroc(digitScores.msp, s.msp))} | ` +
        `${f3(auroc(digitScores.top2, s.top2))} | ${f3(auroc(digitScores.energy, s.energy))} |`,
    );
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  console.log(
    `\nFlagged (not confident): held-out seeds of training kinds ${pct(mean(pooled.seen))} on average, ` +
      `unseen kinds ${pct(mean(pooled.unseen))}; MNIST test digits ${pct(1 - d.shares.confident)}.\n`,
  );
  // Operating points: the same model and images under other confidence thresholds.
  console.log(
    '| min confidence | MNIST flagged | MNIST not a digit | accepted accuracy | non-digits flagged (all rows) | unseen kinds flagged | worst row |',
  );
  console.log('| --: | --: | --: | --: | --: | --: | --: |');
  for (const minConfidence of [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]) {
    const p = { ...policy, minConfidence };
    const dd = verdictShares(digits.probs, p, labels);
    const rows = kept.map((k) => ({
      flagged: 1 - verdictShares(k.probs, p).shares.confident,
      unseen: k.heldOutKind,
    }));
    const all = mean(rows.map((r) => r.flagged));
    const unseen = mean(rows.filter((r) => r.unseen).map((r) => r.flagged));
    console.log(
      `| ${minConfidence} | ${pct(1 - dd.shares.confident)} | ${pct(dd.shares.not_a_digit)} | ${pct(dd.acceptedAccuracy)} | ` +
        `${pct(all)} | ${pct(unseen)} | ${pct(Math.min(...rows.map((r) => r.flagged)))} |`,
    );
  }
  // Policy-free: the max-probability threshold that flags exactly q of MNIST test, and what it flags elsewhere.
  const keptScores = kept.map((k) => maxProbability(k.probs));
  console.log(
    '\nThe threshold on max probability under which exactly this share of MNIST test falls (a diagnostic: it is ' +
      'read off test, so it compares models without a policy; it is not an operating point):\n',
  );
  console.log(
    '| MNIST flagged | max-p under | accepted accuracy | non-digits flagged (all rows) | unseen kinds | worst row |',
  );
  console.log('| --: | --: | --: | --: | --: | --: |');
  for (const share of [0.005, 0.01, 0.02, 0.03]) {
    const at = atDigitsFlagged(share, digitScores.msp, keptScores, labels, predicted);
    const unseen = mean(at.rows.filter((_, i) => kept[i].heldOutKind));
    console.log(
      `| ${pct(share)} | ${at.threshold.toFixed(3)} | ${pct(at.acceptedAccuracy)} | ${pct(mean(at.rows))} | ` +
        `${pct(unseen)} | ${pct(Math.min(...at.rows))} |`,
    );
  }
  console.log('');
  net.dispose();
  ws.dispose();
  predictor.dispose();
}

// Blank input is told by the image alone (no model): the share of each near-blank kind named blank.
console.log('| near-blank input | n | named blank |');
console.log('| --- | --: | --: |');
for (const kind of BLANK_KINDS) {
  const images = makeBlanks(kind, 500, seed);
  console.log(`| ${kind} | ${images.length} | ${pct(images.filter(isBlank).length / images.length)} |`);
}
const fromDigit = (i: number) => ({
  width: 28,
  height: 28,
  channels: 1 as const,
  data: mnist.test.images.subarray(i * 784, (i + 1) * 784),
  maxValue: 1,
});
// What the verdict adds to one image's answer: the blank test, the temperature, the judgement. Alone, the blank
// test makes the picture's ink map; where the answer prepares the picture anyway (a model trained on prepared
// images, uploads) the worker makes that map once for both (`inkMaps` in src/worker/predict.ts), so the verdict
// adds only the ink statistics on it.
const inks = Array.from({ length: 2000 }, (_, i) => toInk(toGray(fromDigit(i)), 28, 28));
const medianOf5 = (once: (i: number) => boolean) => {
  const timing: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const probs = new Float32Array(10).fill(0.02);
    probs[3] = 0.82;
    const t0 = performance.now();
    for (let i = 0; i < inks.length; i++) {
      if (!once(i)) judge(applyTemperature(probs.slice(), 10, 0.6), policy);
    }
    timing.push(((performance.now() - t0) * 1000) / inks.length);
  }
  return timing.sort((a, b) => a - b)[2];
};
const alone = medianOf5((i) => isBlank(fromDigit(i)));
const shared = medianOf5((i) => isBlankInk(inks[i], 28, 28));
console.log(
  `\nVerdict cost per 28×28 image (blank test + temperature + judgement), median of 5 runs of ${inks.length}: ` +
    `${alone.toFixed(2)} µs with its own ink map (JSON with \`preprocess: false\`), ${shared.toFixed(2)} µs on the ` +
    `ink map the preparation makes anyway (JSON to a preprocessing model, uploads).\n`,
);
let digitBlanks = 0;
for (let i = 0; i < mnist.test.count; i++) if (isBlank(fromDigit(i))) digitBlanks++;
console.log(
  `| MNIST test digits (must be 0) | ${mnist.test.count} | ${pct(digitBlanks / mnist.test.count)} |`,
);
await kernels.dispose();
