/**
 * @module
 * `npx tsx scripts/adaptation-sweep.ts [--model models/default.bin] [--grid '[{…}, …]'] [--style '{…}']`: how the fine-tune
 * defaults were chosen. For each request setting (a `/fine-tune` body without its examples: `{}` is the defaults)
 * it runs one fine-tune of the new hand's 256 examples exactly as the worker does (`scripts/lib/adaptation-bench.ts`:
 * limits and bounds from `wrangler.toml`, 10% held out, examples prepared when the model's recipe is, update from
 * the master, int8 child) and prints the held-out new-hand gain, the MNIST drop (test images outside everything
 * else), the served-int8 vs float32 difference and whether the guard would accept it. The API benchmark
 * (`scripts/bench-adaptation.ts`) then checks the chosen defaults end to end.
 */
import type { FineTuneAsk } from '../src/worker/fine-tune-settings.ts';
import {
  accuracyOf,
  benchSets,
  loadBenchModel,
  runAdaptation,
  wranglerLimits,
} from './lib/adaptation-bench.ts';
import { loadKernels } from './lib/kernels-node.ts';
import { BENCH_HAND, type HandStyle } from './lib/new-hand.ts';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const modelPath = flag('--model') ?? 'models/default.bin';

const GRID: FineTuneAsk[] = [
  {},
  { method: 'full-batch', steps: 8, learningRate: 0.1 },
  { replay: 0 },
  { learningRate: 0.005 },
  { learningRate: 0.02 },
  { anchor: 1 },
  { batchSize: 32 },
];
const grid = flag('--grid') ? (JSON.parse(flag('--grid')!) as FineTuneAsk[]) : GRID;

const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
const bench = loadBenchModel(modelPath);
const style = { ...BENCH_HAND, ...(JSON.parse(flag('--style') ?? '{}') as Partial<HandStyle>) };
const sets = benchSets(bench, style);
const deployment = wranglerLimits();
const base = {
  held: accuracyOf(bench.model, sets.heldOutServed, kernels),
  mnist: accuracyOf(bench.model, sets.mnistServed, kernels),
};
console.log(
  `hand ${JSON.stringify(style)}\nparent ${modelPath} (${bench.model.encoding}, master ${bench.master ? 'yes' : 'no'}, prepared input ` +
    `${JSON.stringify(bench.prepares)}): held-out new hand ${(base.held * 100).toFixed(2)}% (${sets.heldOut.count}), ` +
    `MNIST ${(base.mnist * 100).toFixed(2)}% (${sets.mnist.count}); limits ${JSON.stringify(deployment.limits)}`,
);
console.log('| request | resolved | work | held-out gain | MNIST drop | served − f32 | guard | ms |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |');
for (const ask of grid) {
  const run = runAdaptation(bench, sets, ask, kernels, deployment);
  const s = run.plan.settings;
  const resolved =
    `${s.method} e${s.epochs} b${s.batchSize} lr ${s.learningRate} m ${s.momentum} ${s.schedule} ` +
    `replay ${s.replay} anchor ${s.anchor}`;
  const root = run.result.verdict.checks.find((c) => c.name === 'root');
  console.log(
    `| ${JSON.stringify(ask)} | ${resolved} | ${run.result.work} | ${((run.held - base.held) * 100).toFixed(2)} | ` +
      `${((base.mnist - run.mnist) * 100).toFixed(2)} | ${((run.held - run.heldF32) * 100).toFixed(2)} | ` +
      `${run.result.verdict.passed ? 'ok' : 'refused'} (check ${((root?.drop ?? 0) * 100).toFixed(1)}) | ${run.ms.toFixed(0)} |`,
  );
}
await kernels.dispose();
