/**
 * @module
 * `npx tsx scripts/adaptation-sweep.ts [--model models/default.bin] [--quick]`: how the fine-tune defaults were
 * chosen. Runs the pure update (`src/nn/fine-tune-update.ts`) in Node on the adaptation benchmark's new hand for a
 * grid of settings, each within the default work ceiling, and prints for each: held-out new-hand accuracy gain,
 * MNIST accuracy drop (images outside the check set), and served-int8 vs float32 difference. The API benchmark
 * (`scripts/bench-adaptation.ts`) then checks the chosen defaults end to end.
 */
import { readFileSync } from 'node:fs';
import { decodeModel, encodeModelDecoded, type ModelData } from '../src/format/index.ts';
import { startingWeights } from '../src/format/master.ts';
import { masterFileOf } from '../src/format/master.ts';
import { createPredictor, fineTuneUpdate, workOf, type UpdateSettings } from '../src/nn/index.ts';
import { DEFAULT_UPDATE, fitToWork } from '../src/nn/fine-tune-update.ts';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { loadKernels } from './lib/kernels-node.ts';
import { adaptationSplit, BENCH_HAND, type HandStyle, type LabelledImages } from './lib/new-hand.ts';
import { stratifiedPick } from './lib/fine-tune-assets.ts';
import { splitForTraining } from './lib/training-setup.ts';
import { parseTrainArgs } from './lib/train-options.ts';
import { existsSync } from 'node:fs';

const argv = process.argv.slice(2);
const modelPath = argv.includes('--model') ? argv[argv.indexOf('--model') + 1] : 'models/default.bin';
const quick = argv.includes('--quick');
const MAX_WORK = 2048;

const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
const serving = decodeModel(new Uint8Array(readFileSync(modelPath)));
const masterPath = masterFileOf(modelPath);
const start = startingWeights(
  serving,
  existsSync(masterPath) ? new Uint8Array(readFileSync(masterPath)) : null,
);
const dataset = loadDataset(MNIST_DIR);
const style = argv.includes('--style')
  ? { ...BENCH_HAND, ...(JSON.parse(argv[argv.indexOf('--style') + 1]) as Partial<HandStyle>) }
  : BENCH_HAND;
const split = adaptationSplit(dataset.test, 256, 2000, style);
// The replay set as training writes it: 100 per class of the model's own training split.
const trainingFlags = (serving.metadata.training ?? {}) as { seed?: number; valFrac?: number };
const options = parseTrainArgs([
  '--seed',
  String(trainingFlags.seed ?? 1),
  '--val-frac',
  String(trainingFlags.valFrac ?? 0.1),
]);
const split2 = splitForTraining(dataset, options);
// --replay-split validation: 100 per class of the validation split after the check set's 100 per class.
const fromValidation =
  argv.includes('--replay-split') && argv[argv.indexOf('--replay-split') + 1] === 'validation';
const train = fromValidation ? split2.validation : split2.train;
const picked = fromValidation
  ? stratifiedPick(train.labels, 200).filter((e) => !new Set(stratifiedPick(train.labels, 100)).has(e))
  : stratifiedPick(train.labels, 100);
const replay = {
  count: picked.length,
  x: Float32Array.from(
    { length: picked.length * 784 },
    (_, i) => train.images[picked[(i / 784) | 0] * 784 + (i % 784)],
  ),
  labels: Uint8Array.from(picked, (e) => train.labels[e]),
};

function accuracy(
  model: Pick<ModelData, 'sizes' | 'alpha' | 'encoding' | 'params'> & Partial<ModelData>,
  set: LabelledImages,
): number {
  const p = createPredictor(model as ModelData, kernels);
  try {
    let correct = 0;
    for (let from = 0; from < set.count; from += 1000) {
      const n = Math.min(1000, set.count - from);
      const probs = p.predict(set.images.subarray(from * 784, (from + n) * 784), n);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let j = 1; j < 10; j++) if (probs[i * 10 + j] > probs[i * 10 + best]) best = j;
        if (best === set.labels[from + i]) correct++;
      }
    }
    return correct / set.count;
  } finally {
    p.dispose();
  }
}

const base = { held: accuracy(serving, split.heldOut), mnist: accuracy(serving, split.mnist) };
console.log(
  `parent ${modelPath} (${serving.encoding}, start from ${start.source}): held-out new hand ${(base.held * 100).toFixed(2)}%, ` +
    `MNIST ${(base.mnist * 100).toFixed(2)}% (${split.mnist.count} images)`,
);

const grid: Partial<UpdateSettings>[] = quick
  ? [
      {},
      { replay: 0 },
      {
        method: 'full-batch',
        learningRate: 0.1,
        momentum: 0,
        epochs: 8,
        schedule: 'constant',
        replay: 0,
        anchor: 0,
      },
    ]
  : [
      {
        method: 'full-batch',
        learningRate: 0.1,
        momentum: 0,
        epochs: 8,
        schedule: 'constant',
        replay: 0,
        anchor: 0,
      },
      { replay: 0, anchor: 0, learningRate: 0.01 },
      { replay: 0, anchor: 0, learningRate: 0.02 },
      { replay: 0, anchor: 0, learningRate: 0.05 },
      { replay: 0.5, anchor: 0, learningRate: 0.01 },
      { replay: 0.5, anchor: 0, learningRate: 0.02 },
      { replay: 0.5, anchor: 0, learningRate: 0.05 },
      { replay: 1, anchor: 0, learningRate: 0.02 },
      { replay: 1, anchor: 0, learningRate: 0.05 },
      { replay: 0.5, anchor: 1, learningRate: 0.02 },
      { replay: 0.5, anchor: 5, learningRate: 0.02 },
      { replay: 0.5, anchor: 0, learningRate: 0.02, batchSize: 16 },
      { replay: 0.5, anchor: 0, learningRate: 0.02, batchSize: 64 },
      { replay: 0.5, anchor: 0, learningRate: 0.02, schedule: 'constant' },
      { replay: 0.5, anchor: 0, learningRate: 0.02, momentum: 0.5 },
    ];
const extra = argv.includes('--grid')
  ? (JSON.parse(argv[argv.indexOf('--grid') + 1]) as Partial<UpdateSettings>[])
  : null;

console.log('| settings | work | held-out gain | MNIST drop | served − f32 (held-out) | ms |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const change of extra ?? grid) {
  const settings = fitToWork(
    { ...DEFAULT_UPDATE, ...change },
    split.adapt.count,
    MAX_WORK,
    change.epochs !== undefined,
  );
  const t0 = performance.now();
  const result = fineTuneUpdate({
    spec: { sizes: serving.sizes, alpha: serving.alpha },
    start: start.params,
    examples: { x: split.adapt.images, labels: split.adapt.labels, count: split.adapt.count },
    replay,
    settings,
    kernels,
  });
  const ms = performance.now() - t0;
  const f32 = { sizes: serving.sizes, alpha: serving.alpha, encoding: 'f32' as const, params: result.params };
  const { decoded } = encodeModelDecoded({ ...f32, encoding: serving.encoding, metadata: serving.metadata });
  const heldF32 = accuracy(f32, split.heldOut);
  const heldServed = accuracy(decoded, split.heldOut);
  const mnistServed = accuracy(decoded, split.mnist);
  const label =
    Object.entries(change)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ') || 'defaults';
  console.log(
    `| ${label} (epochs ${settings.epochs}) | ${workOf(settings, split.adapt.count)} | ` +
      `${((heldServed - base.held) * 100).toFixed(2)} | ${((base.mnist - mnistServed) * 100).toFixed(2)} | ` +
      `${((heldServed - heldF32) * 100).toFixed(2)} | ${ms.toFixed(0)} |`,
  );
}
await kernels.dispose();
