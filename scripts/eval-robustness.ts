/**
 * @module
 * `npm run eval-robustness -- [--model models/default.bin] [--baseline REF] [--limit 2000] [--seed 1]
 * [--no-browser] [--uci PATH]`: accuracy of a model, beside a baseline's, on MNIST test digits under each corruption
 * of `scripts/lib/corruptions.ts`, on digits drawn in the real page and typed in the machine's fonts with headless
 * Chromium (`scripts/lib/browser-digits.ts`), and on UCI's digits by other writers when Debian's scikit-learn file
 * is there (`scripts/lib/uci-digits.ts`). Each model is run as `/predict` serves it, with and without
 * preprocessing. Prints a Markdown table. Not a trainer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_POLICY } from '../src/data/verdict.ts';
import { decodeModel, type ModelData } from '../src/format/index.ts';
import { parseIdxImages, parseIdxLabels } from '../src/data/idx.ts';
import { browserSets, CHROMIUM } from './lib/browser-digits.ts';
import { UCI_DIGITS, uciDigitSets } from './lib/uci-digits.ts';
import { IDX_FILES, MNIST_DIR, readMaybeGzip } from './lib/dataset.ts';
import { loadKernels } from './lib/kernels-node.ts';
import {
  corruptionSets,
  ECE_METRIC,
  evaluateRows,
  flaggedMetric,
  renderTable,
  type ModelColumn,
  type RobustnessSet,
  type RowResult,
} from './lib/robustness.ts';
import { mcnemar } from './lib/paired-test.ts';

/** The default model before issue #12 (99.07% on MNIST, trained with ±2 px shifts only), read from git. */
export const BASELINE = 'git:38fdb6c:models/default.bin';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default.bin' },
    baseline: { type: 'string', default: BASELINE },
    limit: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '1' },
    browser: { type: 'boolean', default: true },
    'no-browser': { type: 'boolean', default: false },
    uci: { type: 'string', default: UCI_DIGITS },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(
    'Usage: npm run eval-robustness -- [--model PATH] [--baseline PATH|git:REV:PATH] [--limit N] [--seed N] [--no-browser] [--uci PATH]',
  );
  process.exit(0);
}

/** A model file, or `git:REV:PATH` for one as committed at REV. */
function readModel(ref: string): ModelData {
  let bytes: Uint8Array;
  if (ref.startsWith('git:')) {
    const [, rev, ...path] = ref.split(':');
    try {
      bytes = execFileSync('git', ['show', `${rev}:${path.join(':')}`], { maxBuffer: 1 << 28 });
    } catch {
      console.error(`eval-robustness: cannot read ${ref} from git (a shallow clone?); pass --baseline PATH`);
      process.exit(1);
    }
  } else bytes = readFileSync(ref);
  return decodeModel(new Uint8Array(bytes));
}

const limit = Number(values.limit);
const seed = Number(values.seed);
const started = performance.now();
const images = parseIdxImages(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testImages)));
const labels = parseIdxLabels(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testLabels))).labels;
const test = {
  count: images.count,
  images: Float32Array.from(images.pixels, (v) => v / 255),
  labels,
};
const sets: RobustnessSet[] = corruptionSets(test, { limit, seed });
console.error(
  `eval-robustness: ${sets.length} MNIST sets of ${sets[0].images.length} digits in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
if (values.browser && !values['no-browser']) {
  if (existsSync(CHROMIUM)) {
    const t0 = performance.now();
    sets.push(...(await browserSets({ seed })));
    console.error(`eval-robustness: browser sets in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } else
    console.error(`eval-robustness: no Chromium at ${CHROMIUM}; skipping the browser rows (--no-browser)`);
}

const uci = uciDigitSets(values.uci);
if (uci) sets.push(...uci);
else
  console.error(
    `eval-robustness: no UCI digits at ${values.uci}; skipping the other writers' rows (install python3-sklearn, ` +
      `or \`apt-get download python3-sklearn && dpkg-deb -x python3-sklearn_*.deb DIR\` and --uci DIR${UCI_DIGITS})`,
  );

const model = readModel(values.model!);
const baseline = readModel(values.baseline!);
const columns: ModelColumn[] = [
  { name: 'old, as served before', model: baseline, pipeline: 'served-before' },
  { name: 'old, preprocess', model: baseline, pipeline: 'preprocess', metrics: false },
  { name: 'new, raw', model, pipeline: 'raw', metrics: false },
  { name: 'new, preprocess (as served)', model, pipeline: 'preprocess' },
];
const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
const metrics = [ECE_METRIC, flaggedMetric(DEFAULT_POLICY)];
const rows = evaluateRows(sets, columns, kernels, metrics);
await kernels.dispose();
console.log(
  `Models: old = \`${values.baseline}\` (${baseline.encoding}), new = \`${values.model}\` (${model.encoding}); seed ${seed}. ` +
    `"as served before": 28×28 pictures as JSON pixels without preprocessing (the old default), larger ones as ` +
    `uploads (preprocessed); "raw": preprocess false for every picture (uploads plainly resized); "preprocess": ` +
    `src/data/preprocess.ts for every picture, the new default.\n`,
);
console.log(renderTable(rows, columns, metrics));
console.log(`\n${renderPaired(rows, 0, 3)}`);
// Against the old model prepared as the new one is: the comparison that counts when the old one is a prepared model too.
console.log(`\n${renderPaired(rows, 1, 3)}`);
console.error(`eval-robustness: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);

/**
 * Column `to` against column `from` on each labelled row, image by image (the same pictures): how many each gets
 * right that the other does not, and McNemar's exact p (a small p: the difference is more than sampling noise).
 */
function renderPaired(results: RowResult[], from: number, to: number): string {
  const lines = [
    `Paired, "${columns[to].name}" against "${columns[from].name}" on the same pictures (McNemar's exact test):`,
    '',
    '| set | n | right only in new | right only in old | difference | p |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    const [a, b] = [r.right[from], r.right[to]];
    if (!a || !b) continue;
    const { gained, lost, p } = mcnemar(a, b);
    const diff = ((gained - lost) / a.length) * 100;
    lines.push(
      `| ${r.set.name} | ${a.length} | ${gained} | ${lost} | ${diff >= 0 ? '+' : ''}${diff.toFixed(2)} pt | ${p < 1e-4 ? '< 0.0001' : p.toFixed(4)} |`,
    );
  }
  return lines.join('\n');
}
