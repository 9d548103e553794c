/**
 * @module
 * A fine-tune request's settings, resolved: what it asked for, the measured defaults for the rest, scaled so the
 * defaults always fit the deployment's limits, and the limits checked for what it chose. Pure; the workflow turns
 * `problems` into a 400.
 */
import { DEFAULT_UPDATE, fitToWork, STEP_ROWS, workOf, type UpdateSettings } from '../nn/index.ts';
import { AUTO_HOLD_OUT_MIN_EXAMPLES, DEFAULT_HOLD_OUT } from './lineage-guard.ts';

/** What a request may say about the update (all optional). */
export interface FineTuneAsk {
  method?: 'minibatch' | 'full-batch';
  epochs?: number;
  /** The older field: full-batch steps (implies `method: 'full-batch'` unless a method is given). */
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  momentum?: number;
  replay?: number;
  anchor?: number;
  l1?: number;
  l2?: number;
  seed?: number;
  /** Prepare the examples like `/predict` prepares JSON images; default: when the model was trained on prepared ones. */
  preprocess?: boolean;
  /** Share of the examples held out (0 = none); default: DEFAULT_HOLD_OUT from 40 examples on, else none. */
  holdOut?: number;
}

export interface FineTuneLimits {
  maxWork: number;
  /** Most epochs (passes, or full-batch steps) one call may run. */
  maxSteps: number;
}

export interface ResolvedFineTune {
  settings: UpdateSettings;
  /** Share held out, or null for none. */
  holdOut: number | null;
  /** Examples trained on once the slice is held out. */
  trainCount: number;
  work: number;
  /** Why the request is over a limit or asks for what the model lacks; empty when it can run. */
  problems: string[];
}

/** Examples a stratified hold-out of `share` leaves for training (an upper bound: classes round separately). */
function trainCountOf(count: number, share: number | null): number {
  return share === null ? count : Math.max(1, count - Math.max(1, Math.round(count * share)));
}

export function resolveFineTune(
  ask: FineTuneAsk,
  count: number,
  limits: FineTuneLimits,
  hasReplay: boolean,
): ResolvedFineTune {
  const problems: string[] = [];
  const holdOut =
    ask.holdOut !== undefined
      ? ask.holdOut > 0
        ? ask.holdOut
        : null
      : count >= AUTO_HOLD_OUT_MIN_EXAMPLES
        ? DEFAULT_HOLD_OUT
        : null;
  const trainCount = trainCountOf(count, holdOut);
  const method = ask.method ?? (ask.steps !== undefined ? 'full-batch' : DEFAULT_UPDATE.method);
  const fullBatch = method === 'full-batch';
  const epochs = ask.epochs ?? ask.steps;
  if (ask.epochs !== undefined && ask.steps !== undefined && ask.epochs !== ask.steps) {
    problems.push('give `epochs` or `steps`, not both');
  }
  if (ask.replay !== undefined && ask.replay > 0 && !hasReplay) {
    problems.push('`replay` asks for the replay set, and this model has none');
  }
  let settings: UpdateSettings = {
    ...DEFAULT_UPDATE,
    method,
    // The full-batch form is the old plain SGD: no momentum, schedule, replay or pull unless asked for.
    ...(fullBatch
      ? { momentum: 0, schedule: 'constant' as const, replay: 0, anchor: 0, learningRate: 0.05 }
      : {}),
    ...(hasReplay || fullBatch ? {} : { replay: 0 }),
    ...defined({
      epochs,
      batchSize: ask.batchSize,
      learningRate: ask.learningRate,
      momentum: ask.momentum,
      replay: ask.replay,
      anchor: ask.anchor,
      l1: ask.l1,
      l2: ask.l2,
      seed: ask.seed,
    }),
  };
  settings = { ...settings, epochs: Math.min(settings.epochs, limits.maxSteps) };
  if (epochs !== undefined && epochs > limits.maxSteps) {
    problems.push(`at most ${limits.maxSteps} ${fullBatch ? 'steps' : 'epochs'}`);
  }
  settings = fitToWork(settings, trainCount, limits.maxWork, epochs !== undefined);
  const work = workOf(settings, trainCount);
  if (work > limits.maxWork) {
    problems.push(
      `work (rows through the network, replay included, at least ${STEP_ROWS} a step) ${work} is over the ceiling ${limits.maxWork}`,
    );
  }
  return { settings, holdOut, trainCount, work, problems };
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
