/**
 * @module
 * `npx tsx scripts/bench-adaptation.ts [--model models/default.bin] [--url URL --token T] [--offline]`: the
 * adaptation benchmark of issue #14. Through the API by default: starts the product as a user does (a fresh local
 * bucket seeded with the model and its fine-tune files, `wrangler dev`), or uses `--url`.
 * 1. One `/fine-tune` of 256 digits in a new hand (`scripts/lib/new-hand.ts`), defaults only: held-out new-hand gain
 *    and MNIST drop (test images outside everything else; the check set is validation data), read back with
 *    `POST /predict?version=…` from parent and child.
 * 2. The served child against the float32 result of the same update (recomputed in Node: `runLineageFineTune`).
 * 3. The salami (the issue's walk-down attack): chained fine-tunes on mislabelled digits, each tuned by dry runs to
 *    the largest step the per-call bounds let through, until the lineage bound refuses (422) every step.
 * `--offline` runs the same computation in Node only (no API, no rate limit).
 */
import { loadavg } from 'node:os';
import { decodeModel } from '../src/format/index.ts';
import { createClient, EdgeMlpError, type EdgeMlpClient } from '../src/client.ts';
import type { UpdateSettings } from '../src/nn/index.ts';
import { resolveFineTune } from '../src/worker/fine-tune-settings.ts';
import { runLineageFineTune } from '../src/worker/lineage-fine-tune.ts';
import {
  accuracyOf,
  benchSets,
  loadBenchModel,
  runAdaptation,
  wranglerLimits,
  type BenchModel,
  type BenchSets,
} from './lib/adaptation-bench.ts';
import { loadKernels } from './lib/kernels-node.ts';
import { startLocalServer } from './lib/local-server.ts';
import type { LabelledImages } from './lib/new-hand.ts';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const TOKEN = flag('--token') ?? 'bench-adaptation-token-0123456789';
const MODEL = flag('--model') ?? 'models/default.bin';
const SALAMI_CALLS = Number(flag('--salami') ?? 25);

const toBytes = (images: Float32Array, i: number) =>
  Array.from(images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const pts = (v: number) => `${(v * 100).toFixed(2)} points`;
const met = (ok: boolean) => (ok ? 'MET' : 'MISSED');
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

/** Accuracy through `POST /predict?version=` (images as sent; the worker prepares them as for any caller). */
async function accuracyVia(client: EdgeMlpClient, version: string, set: LabelledImages): Promise<number> {
  let correct = 0;
  for (let from = 0; from < set.count; from += 256) {
    const n = Math.min(256, set.count - from);
    const images = Array.from({ length: n }, (_, i) => toBytes(set.images, from + i));
    const r = await client.predictBatch(images, '0-255', { version });
    r.predictions.forEach((p, i) => (correct += p.digit === set.labels[from + i] ? 1 : 0));
  }
  return correct / set.count;
}

function reportAdaptation(
  parent: { held: number; mnist: number },
  child: { held: number; mnist: number },
  f32Held: number,
): void {
  const gain = child.held - parent.held;
  const drop = parent.mnist - child.mnist;
  const gap = Math.abs(child.held - f32Held);
  console.log(
    `  new hand held-out ${pct(parent.held)} → ${pct(child.held)}: ${met(gain >= 0.1 - 1e-9)} gain ≥ 10 points (${pts(gain)})`,
  );
  console.log(
    `  MNIST ${pct(parent.mnist)} → ${pct(child.mnist)}: ${met(drop <= 0.002 + 1e-9)} drop ≤ 0.2 points (${pts(drop)})`,
  );
  console.log(
    `  served ${pct(child.held)} vs float32 result of the same update ${pct(f32Held)}: ${met(gap <= 0.003 + 1e-9)} ` +
      `within 0.3 points (${pts(gap)})`,
  );
}

async function api(bench: BenchModel, sets: BenchSets): Promise<void> {
  const url = flag('--url');
  const server = url
    ? null
    : await startLocalServer({
        command: ['npx', 'tsx', 'scripts/start.ts'],
        model: MODEL,
        env: { FINE_TUNE_TOKEN: TOKEN },
      });
  try {
    const client = createClient(url ?? server!.url, { token: TOKEN });
    const parent = (await client.model()).version;
    const t0 = performance.now();
    const before = {
      held: await accuracyVia(client, parent, sets.heldOut),
      mnist: await accuracyVia(client, parent, sets.mnist),
    };
    console.log(
      `parent ${parent}: new hand held-out ${pct(before.held)} (${sets.heldOut.count}), MNIST ${pct(before.mnist)} (${sets.mnist.count})`,
    );

    // 1. One fine-tune of 256 examples with the defaults.
    const examples = Array.from({ length: sets.adapt.count }, (_, i) => ({
      image: toBytes(sets.adapt.images, i),
      label: sets.adapt.labels[i],
    }));
    const t1 = performance.now();
    const tuned = await client.fineTune({ pixelScale: '0-255', examples });
    const fineTuneMs = performance.now() - t1;
    const child = tuned.version!;
    console.log(
      `fine-tune → ${child} in ${fineTuneMs.toFixed(0)} ms (load ${load()}): ${tuned.trained} trained, ` +
        `${tuned.heldOut?.count ?? 0} held out, work ${tuned.work}, ${tuned.steps} steps, start ${tuned.start}, ` +
        `settings ${JSON.stringify(tuned.settings)}`,
    );
    console.log(
      `  guard: ${tuned.guard.checks.map((c) => `${c.name} ${c.passed ? 'ok' : 'FAIL'} (${pts(c.drop)})`).join(', ')}`,
    );
    const after = {
      held: await accuracyVia(client, child, sets.heldOut),
      mnist: await accuracyVia(client, child, sets.mnist),
    };

    // 2. The float32 result of the same update, recomputed in Node from the same master and settings.
    const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
    const local = runAdaptation(bench, sets, {}, kernels, wranglerLimits(), {
      settings: tuned.settings as UpdateSettings,
      holdOut: tuned.holdOut,
    });
    await kernels.dispose();
    reportAdaptation(before, after, local.heldF32);
    console.log(
      `  Node's recomputation: served held-out ${pct(local.held)}, check set ${pct(local.result.check!.child.accuracy)} ` +
        `vs the worker's ${pct(tuned.guard.child!.accuracy)}`,
    );

    // 3. The salami through the API: each call tuned by dry runs (rate-limited like any caller's).
    const bad = mislabelled(sets.mnist);
    const examplesOf = Array.from({ length: bad.count }, (_, i) => ({
      image: toBytes(bad.x, i),
      label: bad.labels[i],
    }));
    await salami(async (learningRate, dryRun) => {
      try {
        const r = await retryRateLimited(() =>
          client.fineTune({
            pixelScale: '0-255',
            examples: examplesOf,
            method: 'full-batch',
            steps: 2,
            learningRate,
            holdOut: 0,
            dryRun,
          }),
        );
        return { accepted: true, checks: r.guard.checks, reasons: [] };
      } catch (err) {
        if (!(err instanceof EdgeMlpError) || err.code !== 'guard_refused') throw err;
        const details = err.details as { guard: { checks: Check[]; reasons: string[] } };
        return { accepted: false, checks: details.guard.checks, reasons: details.guard.reasons };
      }
    });
    console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s, load ${load()}`);
  } catch (err) {
    if (server) console.error(`server log (end):\n${server.log().slice(-4000)}`);
    throw err;
  } finally {
    await server?.stop();
  }
}

/** The figures, running the worker's computation in Node with the limits and bounds of `wrangler.toml`. */
async function offline(bench: BenchModel, sets: BenchSets): Promise<void> {
  const kernels = await loadKernels({ backend: 'wasm', threads: 1 });
  const deployment = wranglerLimits();
  const { bounds, limits } = deployment;
  const before = {
    held: accuracyOf(bench.model, sets.heldOutServed, kernels),
    mnist: accuracyOf(bench.model, sets.mnistServed, kernels),
  };
  const r = runAdaptation(bench, sets, {}, kernels, deployment);
  console.log(
    `settings ${JSON.stringify(r.plan.settings)}, hold-out ${r.plan.holdOut}, ${r.result.trained} trained, ` +
      `work ${r.result.work}, ${r.result.steps} steps, ${r.ms.toFixed(0)} ms (load ${load()})`,
  );
  console.log(
    `guard ${r.result.verdict.passed ? 'passed' : 'refused'}: ` +
      r.result.verdict.checks.map((c) => `${c.name} ${pts(c.drop)}`).join(', '),
  );
  reportAdaptation(before, r, r.heldF32);

  // The salami offline: each accepted child is the next parent.
  const bad = mislabelled(sets.mnist);
  let parent = { model: decodeModel(r.result.bytes), master: r.result.masterBytes, version: 'child-1' };
  await salami(async (learningRate, dryRun) => {
    const plan = resolveFineTune(
      { method: 'full-batch', steps: 2, learningRate, holdOut: 0 },
      bad.count,
      limits,
      true,
    );
    const s = runLineageFineTune({
      parent: parent.model,
      parentVersion: parent.version,
      parentMaster: parent.master,
      examples: bad,
      settings: plan.settings,
      holdOut: null,
      checkSet: bench.check,
      replay: null,
      bounds,
      kernels,
    });
    if (s.verdict.passed && !dryRun) {
      parent = { model: decodeModel(s.bytes), master: s.masterBytes, version: `child-${s.depth + 1}` };
    }
    return { accepted: s.verdict.passed, checks: s.verdict.checks, reasons: s.verdict.reasons };
  });
  await kernels.dispose();
}

type Check = { name: string; drop: number; bound: number; passed: boolean };
type Attempt = (
  learningRate: number,
  dryRun: boolean,
) => Promise<{ accepted: boolean; checks: Check[]; reasons: string[] }>;

/** 64 plain MNIST digits (the last of the MNIST set), each labelled as the next digit. */
function mislabelled(mnist: LabelledImages, n = 64) {
  return {
    x: mnist.images.slice((mnist.count - n) * 784),
    labels: Uint8Array.from(mnist.labels.slice(mnist.count - n), (l) => (l + 1) % 10),
    count: n,
  };
}

/**
 * The walk-down attack of issue #14 on mislabelled digits: each call takes the largest learning rate on a ladder
 * whose dry run passes the per-call checks (step and per class), and commits it; a dry run refused although its
 * step is within the per-call bounds is the lineage bound at work. Up to 20 accepted, or until no step passes.
 */
async function salami(attempt: Attempt): Promise<void> {
  const ladder = [0.05, 0.02, 0.01, 0.005, 0.002, 0.001];
  let accepted = 0;
  let refusals = 0;
  let worst = 0;
  let bound = NaN;
  const find = (checks: Check[], name: string) => checks.find((c) => c.name === name);
  for (let call = 1; accepted < 20 && call <= SALAMI_CALLS; call++) {
    let taken = false;
    for (const learningRate of ladder) {
      const dry = await attempt(learningRate, true);
      const step = find(dry.checks, 'parent')!;
      const root = find(dry.checks, 'root')!;
      bound = root.bound;
      if (!step.passed || find(dry.checks, 'parent-class')?.passed === false) continue;
      if (!dry.accepted) {
        if (++refusals <= 3) {
          console.log(
            `  salami call ${call} lr ${learningRate}: REFUSED (422 guard_refused): step ${pts(step.drop)} ` +
              `(≤ ${pts(step.bound)}) but lineage ${pts(root.drop)} (≤ ${pts(root.bound)}): ${dry.reasons.join('; ')}`,
          );
        }
        continue;
      }
      const real = await attempt(learningRate, false);
      if (!real.accepted) throw new Error('a fine-tune its dry run accepted was refused');
      worst = Math.max(worst, find(real.checks, 'root')!.drop);
      console.log(
        `  salami call ${call} lr ${learningRate}: accepted, step ${pts(step.drop)}, lineage ${pts(find(real.checks, 'root')!.drop)}`,
      );
      accepted++;
      taken = true;
      break;
    }
    if (!taken) {
      console.log(`  salami call ${call}: no step on the ladder passes the guard; the lineage is held`);
      break;
    }
  }
  console.log(
    `  salami: ${accepted} accepted, ${refusals} dry runs refused by the lineage bound alone; worst lineage drop ` +
      `${pts(worst)} of the allowed ${pts(bound)}: ${met(!(worst > bound + 1e-9))}`,
  );
}

/** The fine-tune rate limit (10 a minute per client) answers 429 with Retry-After: wait and try again. */
async function retryRateLimited<T>(call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof EdgeMlpError) || err.status !== 429) throw err;
      const wait = Number((err.details as { retryAfterSeconds?: number } | null)?.retryAfterSeconds ?? 10);
      await new Promise((r) => setTimeout(r, Math.max(1, wait) * 1000));
    }
  }
}

const bench = loadBenchModel(MODEL);
const sets = benchSets(bench);
console.log(
  `model ${MODEL} (${bench.model.encoding}, master ${bench.master ? 'yes' : 'no'}, prepared input ${JSON.stringify(bench.prepares)}); ` +
    `load ${load()}`,
);
(argv.includes('--offline') ? offline(bench, sets) : api(bench, sets)).catch((err) => {
  console.error(err);
  process.exit(1);
});
