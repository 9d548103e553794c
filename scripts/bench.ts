/**
 * @module
 * `npm run bench`: the 784-1024-512-10 network's training, inference and fine-tune speed against the numpy and
 * PyTorch peers (`../shared/peers` beside the repo; `PEERS_DIR` overrides), run in the same invocation on the same work, with ratios.
 * Usage: npm run bench -- [--quick] [--no-peers] [--json] [--time-to-accuracy] [--time-to-accuracy-epochs N]
 *   [--only-time-to-accuracy] [--no-prefetch] [--threads 1,2]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  peerRecipeTrainArgs,
  renderTimeToAccuracy,
  timeToAccuracy,
  timeToAccuracyTarget,
  type TimeToAccuracyReport,
} from './lib/bench-accuracy.ts';
import {
  benchFineTune,
  benchInference,
  benchTraining,
  type FineTuneFigures,
  type InferFigures,
  type TrainFigures,
} from './lib/bench-ours.ts';
import {
  benchPeer,
  peerAvailable,
  peerTimeToAccuracy,
  type PeerName,
  type PeerRecipe,
  type PeerResult,
} from './lib/bench-peers.ts';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { compileBuild, loadKernels } from './lib/kernels-node.ts';
import { benchWorkerRequest, type WorkerFigures } from './lib/bench-worker.ts';
import { createWasmKernels } from '../src/kernels/wasm-kernels.ts';
import { DEFAULTS } from './lib/train-options.ts';

const PROJECT_ROOT = new URL('..', import.meta.url).pathname;
const BATCHES = [16, 128];

interface Settings {
  quick: boolean;
  peers: boolean;
  json: boolean;
  timeToAccuracy: boolean;
  /** Epochs scheduled for every time-to-accuracy run (the cosine spans them). */
  timeToAccuracyEpochs: number;
  /** Skip the speed measures: the time-to-accuracy runs alone. */
  onlyTimeToAccuracy: boolean;
  prefetch: boolean;
  threads: number[];
}

function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      'no-peers': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'time-to-accuracy': { type: 'boolean', default: false },
      'time-to-accuracy-epochs': { type: 'string', default: String(DEFAULTS.epochs) },
      'only-time-to-accuracy': { type: 'boolean', default: false },
      'no-prefetch': { type: 'boolean', default: false },
      threads: { type: 'string', default: '1,2' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'Usage: npm run bench -- [--quick] [--no-peers] [--json] [--time-to-accuracy] [--time-to-accuracy-epochs N]\n' +
        '         [--only-time-to-accuracy] [--no-prefetch] [--threads 1,2]\n' +
        '  --quick             fewer steps and repeats\n' +
        '  --no-peers          skip the numpy and PyTorch peers (also in the time to accuracy)\n' +
        '  --json              print one JSON object instead of the table\n' +
        '  --time-to-accuracy  also time 98% and 99% MNIST test accuracy: the default recipe (ours), then the\n' +
        "                      recipe the PyTorch peer can run (ours and PyTorch's); stops at 99% or the last epoch\n" +
        `  --time-to-accuracy-epochs N  epochs (and cosine length) of those runs (default ${DEFAULTS.epochs}, the default recipe's)\n` +
        '  --only-time-to-accuracy  the time-to-accuracy runs alone, no speed measures (implies --time-to-accuracy)\n' +
        '  --no-prefetch       with --time-to-accuracy: prepare batches between steps, not in a thread ahead\n' +
        '  --threads LIST      kernel thread counts to measure training with (default 1,2)',
    );
    process.exit(0);
  }
  const threads = values.threads.split(',').map(Number);
  if (threads.some((t) => !Number.isInteger(t) || t < 1)) {
    console.error(`bench: --threads: expected a list of integers ≥ 1, got "${values.threads}"`);
    process.exit(2);
  }
  const epochs = Number(values['time-to-accuracy-epochs']);
  if (!Number.isInteger(epochs) || epochs < 1) {
    console.error(
      `bench: --time-to-accuracy-epochs: expected an integer ≥ 1, got "${values['time-to-accuracy-epochs']}"`,
    );
    process.exit(2);
  }
  return {
    quick: values.quick,
    peers: !values['no-peers'],
    json: values.json,
    timeToAccuracy: values['time-to-accuracy'] || values['only-time-to-accuracy'],
    timeToAccuracyEpochs: epochs,
    onlyTimeToAccuracy: values['only-time-to-accuracy'],
    prefetch: !values['no-prefetch'],
    threads,
  };
}

async function main(): Promise<void> {
  const s = parseSettings(process.argv.slice(2));
  const log = s.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  const repeats = s.quick ? 3 : 5;
  const steps = (batch: number) => (batch <= 16 ? (s.quick ? 100 : 300) : s.quick ? 20 : 60);
  const started = new Date();
  const startLoad = loadavg();
  log(
    `bench: ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}, node ${process.version}, load ${loadavg()[0].toFixed(2)}`,
  );
  const dataset = loadDataset(MNIST_DIR);

  const training: TrainFigures[] = [];
  const inference: InferFigures[] = [];
  const fineTunes: FineTuneFigures[] = [];
  const speed = !s.onlyTimeToAccuracy;
  for (const threads of speed ? s.threads : []) {
    const kernels = await loadKernels({ backend: 'wasm', threads });
    try {
      for (const batch of BATCHES) {
        const t = benchTraining(kernels, threads, dataset.train, batch, steps(batch), repeats);
        training.push(t);
        log(
          `  ours ${t.kernels} batch ${batch}: ${Math.round(t.exPerS)} ex/s (${Math.round(t.exPerCpuS)} per CPU-s)`,
        );
      }
      for (const encoding of ['f32', 'int8'] as const) {
        const r = benchInference(
          kernels,
          threads,
          encoding,
          dataset.test,
          s.quick ? 1000 : 5000,
          s.quick ? 10 : 20,
        );
        inference.push(r);
        log(
          `  ours ${r.kernels} ${encoding}: single ${r.singleUs.toFixed(1)} us (no blank pixels ${r.singleNoBlankUs.toFixed(1)}), batch-1000 ${Math.round(r.batch1000ImgPerS)} img/s`,
        );
      }
      // The Worker runs one thread: measure its fine-tune path with one-thread kernels only.
      if (threads === 1) {
        for (const encoding of ['f32', 'int8'] as const) {
          const f = benchFineTune(kernels, encoding, dataset.test, repeats);
          fineTunes.push(f);
          log(
            `  ours ${f.kernels} fine-tune ${encoding}: ${f.totalWallMs.toFixed(1)} ms (CPU ${f.totalCpuMs.toFixed(1)}), steps ${f.stepsWallMs.toFixed(1)} ms`,
          );
        }
      }
    } finally {
      await kernels.dispose();
    }
  }

  // The Worker's own costs: its build (relaxed SIMD), one thread, its memory reserve, the committed models.
  const workerModule = compileBuild('plain');
  const workerCosts: WorkerFigures[] = [];
  for (const model of speed ? ['models/default.bin'] : []) {
    const w = benchWorkerRequest(
      () => createWasmKernels(workerModule, { capacityBytes: 48 * 1024 * 1024 }),
      new URL(model, `file://${PROJECT_ROOT}`).pathname,
      dataset.test,
      s.quick ? 1000 : 5000,
    );
    workerCosts.push(w);
    log(
      `  worker /predict ${model} (${w.encoding}): parse ${w.parseUs.toFixed(1)} us, validate ${w.validateUs.toFixed(1)} us, ` +
        `input ${w.inputUs.toFixed(1)} us, prepare ${w.prepareUs.toFixed(1)} us, infer ${w.inferUs.toFixed(1)} us, ` +
        `verdict and answer ${w.answerUs.toFixed(1)} us, ` +
        `all ${w.totalUs.toFixed(1)} us; first request ${w.firstRequestMs.toFixed(1)} ms CPU; ${w.modelBytes} bytes`,
    );
  }

  const peers: PeerResult[] = [];
  if (s.peers && speed) {
    for (const peer of ['numpy', 'torch'] as PeerName[]) {
      if (!peerAvailable(peer)) {
        log(`  ${peer}: not available (needs /usr/bin/python3 with ${peer})`);
        continue;
      }
      peers.push(
        benchPeer(peer, {
          batches: BATCHES,
          steps,
          repeats: s.quick ? 1 : 3,
          singleReps: s.quick ? 1000 : 5000,
          cwd: PROJECT_ROOT,
          log,
        }),
      );
    }
  }

  const accuracy = s.timeToAccuracy ? await runTimeToAccuracy(s, dataset, log) : null;

  const report = {
    startedAt: started.toISOString(),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, loadAverage: startLoad },
    training,
    inference,
    fineTunes,
    workerCosts,
    peers,
    accuracy,
  };
  if (s.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log('');
  console.log(renderTable(report));
  console.log(
    `\nMachine: ${report.machine.cpu} x${report.machine.cores}, node ${report.machine.node}; ` +
      `load average ${started.toISOString().slice(11, 16)} UTC ${report.machine.loadAverage[0].toFixed(2)}, ` +
      `at the end ${loadavg()[0].toFixed(2)}.`,
  );
}

type Report = {
  training: TrainFigures[];
  inference: InferFigures[];
  fineTunes: FineTuneFigures[];
  workerCosts: WorkerFigures[];
  peers: PeerResult[];
  accuracy: TimeToAccuracyReport | null;
};

/**
 * Issue 17's time to 98% and 99%: the default recipe (ours), then the peer recipe, ours and PyTorch's, one after
 * the other (never side by side: each trainer gets the machine to itself), all over the same epochs.
 */
async function runTimeToAccuracy(
  s: Settings,
  dataset: ReturnType<typeof loadDataset>,
  log: (line: string) => void,
): Promise<TimeToAccuracyReport> {
  const epochs = s.timeToAccuracyEpochs;
  const { lr, momentum, batch, valFrac, seed } = DEFAULTS;
  const peerRecipe: PeerRecipe = { epochs, batch, lr, momentum, valFrac, seed };
  const common = ['--epochs', String(epochs), ...(s.prefetch ? [] : ['--no-prefetch'])];
  const kernels = await loadKernels({ backend: 'wasm' });
  let defaultRecipe, oursOnPeerRecipe;
  try {
    log(`  time to 98% and 99%, the default recipe over ${epochs} epochs (${kernels.name}):`);
    defaultRecipe = timeToAccuracy(dataset, kernels, { trainArgs: common, log });
    log(`  time to 98% and 99%, the peer recipe over ${epochs} epochs, ours (${kernels.name}):`);
    oursOnPeerRecipe = timeToAccuracy(dataset, kernels, {
      trainArgs: [...peerRecipeTrainArgs(peerRecipe), ...common],
      log,
    });
  } finally {
    await kernels.dispose();
  }
  let torchOnPeerRecipe = null;
  let torchError: string | null = null;
  if (!s.peers) torchError = 'skipped: --no-peers';
  else if (!peerAvailable('torch')) torchError = 'not available (needs /usr/bin/python3 with torch)';
  else {
    log(`  time to 98% and 99%, the peer recipe over ${epochs} epochs, PyTorch (--threads 1):`);
    try {
      torchOnPeerRecipe = peerTimeToAccuracy(peerRecipe, [0.98, 0.99], PROJECT_ROOT);
      for (const p of torchOnPeerRecipe.points) {
        log(
          `  epoch ${p.epoch}: test ${(p.testAccuracy * 100).toFixed(2)}% after ${p.trainSeconds} s of training`,
        );
      }
    } catch (error) {
      torchError = (error as Error).message;
      log(`  PyTorch: ${torchError}`);
    }
  }
  return { epochs, defaultRecipe, peerRecipe, oursOnPeerRecipe, torchOnPeerRecipe, torchError };
}

/** A Markdown table: one row per measure; ratios are speed ratios (above 1: edge-mlp is faster). */
function renderTable(r: Report): string {
  const threadCounts = [...new Set(r.training.map((t) => t.threads))];
  const peerNames = r.peers.map((p) => p.peer);
  const header = [
    'measure',
    ...threadCounts.map((t) => `edge-mlp ${t} thread${t > 1 ? 's' : ''}`),
    ...peerNames.map(peerLabel),
    ...peerNames.map((p) => `ratio vs ${peerLabel(p)}`),
  ];
  const rows: string[][] = [];
  const add = (
    measure: string,
    ours: (number | null)[],
    peerValues: (number | null)[],
    higherIsBetter: boolean,
    format: (v: number) => string,
  ) => {
    const best = bestOf(ours, higherIsBetter);
    const ratios = peerValues.map((p) =>
      p === null || best === null ? '-' : `${(higherIsBetter ? best / p : p / best).toFixed(2)}x`,
    );
    rows.push([
      measure,
      ...ours.map((v) => (v === null ? '-' : format(v))),
      ...peerValues.map((v) => (v === null ? '-' : format(v))),
      ...ratios,
    ]);
  };
  const int = (v: number) => Math.round(v).toLocaleString('en-US');
  const us = (v: number) => `${v.toFixed(1)} µs`;
  for (const batch of BATCHES) {
    const ours = threadCounts.map(
      (t) => r.training.find((x) => x.batch === batch && x.threads === t)?.exPerS ?? null,
    );
    add(
      `train ex/s, batch ${batch} (plain SGD)`,
      ours,
      r.peers.map((p) => p.trainExPerS[batch] ?? null),
      true,
      int,
    );
    const cpu = threadCounts.map(
      (t) => r.training.find((x) => x.batch === batch && x.threads === t)?.exPerCpuS ?? null,
    );
    add(
      `  … per CPU-second (all threads)`,
      cpu,
      peerNames.map(() => null),
      true,
      int,
    );
  }
  for (const encoding of ['f32', 'int8'] as const) {
    const of = (t: number) => r.inference.find((x) => x.encoding === encoding && x.threads === t);
    add(
      `single image, ${encoding}`,
      threadCounts.map((t) => of(t)?.singleUs ?? null),
      r.peers.map((p) => p.singleUs),
      false,
      us,
    );
    add(
      `  … no blank pixels`,
      threadCounts.map((t) => of(t)?.singleNoBlankUs ?? null),
      r.peers.map(() => null),
      false,
      us,
    );
    add(
      `batch-1000 img/s, ${encoding}`,
      threadCounts.map((t) => of(t)?.batch1000ImgPerS ?? null),
      r.peers.map((p) => p.batch1000ImgPerS),
      true,
      int,
    );
  }
  const none = peerNames.map(() => null);
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  for (const f of r.fineTunes) {
    const cells = (v: number) => threadCounts.map((t) => (t === 1 ? v : null));
    add(`fine-tune 64×10, ${f.encoding} parent, wall`, cells(f.totalWallMs), none, false, ms);
    add(`  … CPU`, cells(f.totalCpuMs), none, false, ms);
    add(`  … the 10 steps alone, CPU`, cells(f.stepsCpuMs), none, false, ms);
  }
  for (const w of r.workerCosts) {
    const cells = (v: number) => threadCounts.map((t) => (t === 1 ? v : null));
    add(`worker /predict, one JSON image (${w.encoding} model): all`, cells(w.totalUs), none, false, us);
    add(`  … JSON.parse of the ${w.bodyBytes}-byte body`, cells(w.parseUs), none, false, us);
    add(`  … zod validation`, cells(w.validateUs), none, false, us);
    add(`  … the input (pixels, ink map, blank test)`, cells(w.inputUs), none, false, us);
    add(`  … preparation (the model's default)`, cells(w.prepareUs), none, false, us);
    add(`  … inference`, cells(w.inferUs), none, false, us);
    add(`  … the verdict and the answer's JSON`, cells(w.answerUs), none, false, us);
    add(
      `worker's first request (decode, predictor, first image), CPU`,
      cells(w.firstRequestMs),
      none,
      false,
      ms,
    );
    add(`  … kernel memory per loaded model, MiB`, cells(w.modelBytes / 2 ** 20), none, false, (v) =>
      v.toFixed(2),
    );
  }
  // --only-time-to-accuracy measured no speed: no table, only the targets and the time to accuracy.
  const lines: string[] = threadCounts.length
    ? [
        `| ${header.join(' | ')} |`,
        `|${header.map(() => '---').join('|')}|`,
        ...rows.map((row) => `| ${row.join(' | ')} |`),
        '',
        'Ratios compare the best edge-mlp column with the peer: above 1 means edge-mlp is faster.',
        "int8 rows compare against the peers' float32 (they have no int8 path).",
      ]
    : ['No speed measured (--only-time-to-accuracy).'];
  for (const p of r.peers) {
    const settings = Object.entries(p.settings)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ');
    lines.push(
      `${peerLabel(p.peer)} settings: ${settings}.${p.errors.length ? ` Errors: ${p.errors.join(' / ')}` : ''}`,
    );
  }
  lines.push('', ...renderTargets(r), '', ...renderTargets17(r));
  if (r.accuracy) lines.push('', ...renderTimeToAccuracy(r.accuracy));
  return lines.join('\n');
}

/** The issue's targets, each as met / missed / not measured, from this run's figures. */
function renderTargets(r: Report): string[] {
  const numpy = r.peers.find((p) => p.peer === 'numpy');
  const bestTrain = (batch: number) =>
    bestOf(
      r.training.filter((t) => t.batch === batch).map((t) => t.exPerS),
      true,
    );
  const bestSingle = (encoding: string) =>
    bestOf(
      r.inference.filter((i) => i.encoding === encoding).map((i) => i.singleUs),
      false,
    );
  const verdict = (ok: boolean | null, text: string) =>
    `- ${ok === null ? 'not measured' : ok ? 'met' : 'MISSED'}: ${text}`;
  const ratio = (ours: number | null, peer: number | null | undefined) =>
    ours === null || peer == null ? null : ours / peer;
  const b16 = ratio(bestTrain(16), numpy?.trainExPerS[16]);
  const b128 = ratio(bestTrain(128), numpy?.trainExPerS[128]);
  const f32 = bestSingle('f32');
  const int8 = bestSingle('int8');
  const fineTune = r.fineTunes.length ? Math.max(...r.fineTunes.map((f) => f.totalCpuMs)) : null;
  const fineTunes = r.fineTunes.map((f) => `${f.encoding} parent ${f.totalCpuMs.toFixed(1)} ms`).join(', ');
  const fmt = (v: number | null, digits: number, unit: string) =>
    v === null ? '-' : `${v.toFixed(digits)}${unit}`;
  const at98 = r.accuracy?.defaultRecipe.reached.find((x) => x.target === 0.98) ?? null;
  return [
    'Targets (issue 3):',
    verdict(b16 === null ? null : b16 >= 1, `training at batch 16 ≥ 1.0x numpy: ${fmt(b16, 2, 'x')}`),
    verdict(b128 === null ? null : b128 >= 0.5, `training at batch 128 ≥ 0.5x numpy: ${fmt(b128, 2, 'x')}`),
    verdict(
      f32 === null || !numpy?.singleUs ? null : f32 <= numpy.singleUs,
      `single image f32 ≤ numpy's forward: ${fmt(f32, 1, ' µs')} vs ${fmt(numpy?.singleUs ?? null, 1, ' µs')}`,
    ),
    verdict(int8 === null ? null : int8 < 45, `single image int8 < 45 µs: ${fmt(int8, 1, ' µs')}`),
    verdict(
      fineTune === null ? null : fineTune < 150,
      `fine-tune 64×10 in the Worker's code path < 150 ms CPU, every parent encoding: ${fineTunes || '-'}`,
    ),
    verdict(
      at98 ? at98.seconds !== null && at98.seconds < 30 : null,
      `time to 98% test accuracy < 30 s of training (the default recipe): ${at98 ? fmt(at98.seconds, 1, ' s') : 'run with --time-to-accuracy'}`,
    ),
  ];
}

/** Issue 17's targets: PyTorch ratios, one-thread latencies (the Worker's path), the Worker's own costs. */
function renderTargets17(r: Report): string[] {
  const torch = r.peers.find((p) => p.peer === 'torch');
  const verdict = (ok: boolean | null, text: string) =>
    `- ${ok === null ? 'not measured' : ok ? 'met' : 'MISSED'}: ${text}`;
  const ratio = (ours: number | null, peer: number | null | undefined) =>
    ours === null || peer == null ? null : ours / peer;
  const fmt = (v: number | null, digits: number, unit: string) =>
    v === null ? '-' : `${v.toFixed(digits)}${unit}`;
  const bestTrain = bestOf(
    r.training.filter((t) => t.batch === 128).map((t) => t.exPerS),
    true,
  );
  const batch = (encoding: string) =>
    bestOf(
      r.inference.filter((i) => i.encoding === encoding).map((i) => i.batch1000ImgPerS),
      true,
    );
  const single = (encoding: string) =>
    r.inference.find((i) => i.encoding === encoding && i.threads === 1) ?? null;
  const b128 = ratio(bestTrain, torch?.trainExPerS[128]);
  const int8 = ratio(batch('int8'), torch?.batch1000ImgPerS);
  const f32 = ratio(batch('f32'), torch?.batch1000ImgPerS);
  const [s8, s32] = [single('int8'), single('f32')];
  const w = r.workerCosts[0] ?? null;
  const overhead = w ? w.totalUs / w.inferUs : null;
  const tta = timeToAccuracyTarget(r.accuracy);
  return [
    'Targets (issue 17):',
    verdict(b128 === null ? null : b128 >= 1, `training at batch 128 ≥ 1.0x PyTorch: ${fmt(b128, 2, 'x')}`),
    verdict(int8 === null ? null : int8 >= 1, `batch-1000 int8 ≥ 1.0x PyTorch float32: ${fmt(int8, 2, 'x')}`),
    verdict(f32 === null ? null : f32 >= 0.8, `batch-1000 float32 ≥ 0.8x PyTorch: ${fmt(f32, 2, 'x')}`),
    verdict(
      s8 ? s8.singleUs <= 30 : null,
      `one image, int8, one thread ≤ 30 µs: ${fmt(s8?.singleUs ?? null, 1, ' µs')} (no blank pixels ${fmt(s8?.singleNoBlankUs ?? null, 1, ' µs')})`,
    ),
    verdict(
      s32 ? s32.singleUs <= 50 : null,
      `one image, float32, one thread ≤ 50 µs: ${fmt(s32?.singleUs ?? null, 1, ' µs')} (no blank pixels ${fmt(s32?.singleNoBlankUs ?? null, 1, ' µs')})`,
    ),
    verdict(
      overhead === null ? null : overhead <= 2,
      `/predict for one JSON image ≤ 2x the network's own time (Node, the Worker's code): ${fmt(overhead, 2, 'x')}`,
    ),
    verdict(
      w ? w.firstRequestMs <= 30 : null,
      `a fresh isolate's first prediction ≤ 30 ms CPU (Node, the Worker's code): ${fmt(w?.firstRequestMs ?? null, 1, ' ms')}`,
    ),
    verdict(tta.ok, tta.text),
  ];
}

function peerLabel(peer: PeerName): string {
  return peer === 'numpy' ? 'numpy' : 'PyTorch';
}

function bestOf(values: (number | null)[], higherIsBetter: boolean): number | null {
  const present = values.filter((v): v is number => v !== null);
  if (present.length === 0) return null;
  return higherIsBetter ? Math.max(...present) : Math.min(...present);
}

await main();
