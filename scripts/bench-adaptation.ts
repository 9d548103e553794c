/**
 * @module
 * `npx tsx scripts/bench-adaptation.ts [--model models/default.bin] [--url URL --token T] [--offline]`: the
 * adaptation benchmark of issue #14. Through the API by default: starts the product as a user does (a fresh local
 * bucket seeded with the model and its fine-tune files, `wrangler dev`), or uses `--url`.
 * 1. One `/fine-tune` of 256 digits in a new hand (`scripts/lib/new-hand.ts`), defaults only: held-out new-hand gain
 *    and MNIST drop (test images outside everything else; the check set is validation data), read back with
 *    `POST /predict?version=…` from parent and child.
 * 2. The served child against the float32 result of the same update (recomputed in Node: `runLineageFineTune`).
 * 3. The salami: chained small fine-tunes on mislabelled digits until the lineage bound refuses one (422).
 * `--offline` runs the same computation in Node only (no API), with the issue's adversary for the salami: each call
 * tuned by dry runs to the largest step the per-call bound lets through.
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

    // 3. The salami: small steps on mislabelled MNIST digits (label + 1), chained, until the lineage bound refuses.
    const bad = Array.from({ length: 64 }, (_, i) => ({
      image: toBytes(sets.mnist.images, sets.mnist.count - 1 - i),
      label: (sets.mnist.labels[sets.mnist.count - 1 - i] + 1) % 10,
    }));
    let accepted = 0;
    let worst = 0;
    let bound = NaN;
    for (let call = 1; call <= SALAMI_CALLS; call++) {
      try {
        const r = await retryRateLimited(() =>
          client.fineTune({
            pixelScale: '0-255',
            examples: bad,
            method: 'full-batch',
            steps: 2,
            learningRate: 0.02,
            holdOut: 0,
          }),
        );
        accepted++;
        const root = r.guard.checks.find((c) => c.name === 'root')!;
        const step = r.guard.checks.find((c) => c.name === 'parent')!;
        bound = root.bound;
        worst = Math.max(worst, root.drop);
        console.log(
          `  salami ${call}: accepted, step ${pts(step.drop)}, lineage ${pts(root.drop)} (depth ${r.depth})`,
        );
      } catch (err) {
        if (!(err instanceof EdgeMlpError)) throw err;
        const checks = (err.details as { guard?: { checks: { name: string; passed: boolean }[] } })?.guard
          ?.checks;
        console.log(
          `  salami ${call}: ${err.status} ${err.code}: ${err.message}; failed: ` +
            JSON.stringify(checks?.filter((c) => !c.passed)),
        );
        break;
      }
    }
    console.log(
      `  salami: ${accepted} accepted; worst lineage drop ${pts(worst)} of the allowed ${pts(bound)}: ` +
        `${met(accepted === 0 || worst <= bound + 1e-9)}`,
    );
    console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s, load ${load()}`);
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

  // Salami: mislabelled digits in small full-batch steps, each child the next parent. The adversary of the issue:
  // each call takes the largest learning rate on a ladder whose dry run stays under the per-call bounds; when the
  // lineage bound refuses it, smaller ones, until 20 are accepted or none fits.
  const mnist = sets.mnist;
  const n = 64;
  const bad = {
    x: mnist.images.slice((mnist.count - n) * 784),
    labels: Uint8Array.from(mnist.labels.slice(mnist.count - n), (l) => (l + 1) % 10),
    count: n,
  };
  let parent = { model: decodeModel(r.result.bytes), master: r.result.masterBytes, version: 'child-1' };
  const ladder = [0.05, 0.02, 0.01, 0.005, 0.002, 0.001];
  let accepted = 0;
  let refusals = 0;
  let worst = 0;
  for (let call = 1; accepted < 20 && call <= SALAMI_CALLS; call++) {
    let taken: ReturnType<typeof runLineageFineTune> | null = null;
    for (const learningRate of ladder) {
      const plan = resolveFineTune(
        { method: 'full-batch', steps: 2, learningRate, holdOut: 0 },
        n,
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
      const check = (name: string) => s.verdict.checks.find((c) => c.name === name);
      if (!check('parent')!.passed || check('parent-class')?.passed === false) continue;
      const root = check('root')!;
      if (!s.verdict.passed) {
        if (++refusals <= 3) {
          console.log(
            `salami call ${call} lr ${learningRate}: REFUSED (422 guard_refused): step ${pts(check('parent')!.drop)} ` +
              `but lineage ${pts(root.drop)} (≤ ${pts(root.bound)}): ${s.verdict.reasons.join('; ')}`,
          );
        }
        continue;
      }
      taken = s;
      worst = Math.max(worst, root.drop);
      console.log(
        `salami call ${call} lr ${learningRate}: accepted, step ${pts(check('parent')!.drop)}, lineage ${pts(root.drop)}`,
      );
      break;
    }
    if (!taken) {
      console.log(`salami call ${call}: no step on the ladder passes; the lineage is held`);
      continue;
    }
    accepted++;
    parent = { model: decodeModel(taken.bytes), master: taken.masterBytes, version: `child-${call + 1}` };
  }
  console.log(
    `salami: ${accepted} accepted, ${refusals} refused by the lineage bound; worst lineage drop ${pts(worst)} ` +
      `(bound ${pts(bounds.maxLineageDrop)}): ${met(worst <= bounds.maxLineageDrop + 1e-9)}`,
  );
  await kernels.dispose();
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
  `model ${MODEL} (${bench.model.encoding}, master ${bench.master ? 'yes' : 'no'}, prepared input ${bench.prepares}); ` +
    `load ${load()}`,
);
(argv.includes('--offline') ? offline(bench, sets) : api(bench, sets)).catch((err) => {
  console.error(err);
  process.exit(1);
});
