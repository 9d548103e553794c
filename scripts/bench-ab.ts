/**
 * @module
 * `npx tsx scripts/bench-ab.ts --base DIR [--encoding int8|f32] [--rounds 7]`: this checkout's predictor against
 * another checkout's (DIR: e.g. `git worktree add DIR <commit>`, with `node_modules` linked and
 * `npm run build:wasm` run there), one thread, relaxed SIMD, the two alternated round by round in one process,
 * so that a busy shared machine slows both alike. Prints medians of CPU time (`process.cpuUsage`): one image
 * (MNIST test images in order, 2,000 per round) and batch-1000 images per CPU-second, on the benchmark's He-init
 * network of `bench-ours.ts` as each checkout builds it.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { median } from './lib/bench-stats.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    encoding: { type: 'string', default: 'int8' },
    rounds: { type: 'string', default: '7' },
  },
});
if (!values.base || !['int8', 'f32'].includes(values.encoding!)) {
  console.error('Usage: npx tsx scripts/bench-ab.ts --base DIR [--encoding int8|f32] [--rounds 7]');
  process.exit(2);
}
const encoding = values.encoding as 'int8' | 'f32';
const rounds = Number(values.rounds);
setFlagsFromString('--experimental-wasm-relaxed-simd');
// The Workers types declare Module abstract (workerd refuses run-time compilation); Node compiles fine.
const NodeModule = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module;

interface Side {
  name: string;
  predict(x: Float32Array, batch: number): Float32Array;
}

/** The predictor of the checkout at `root`, built with its own code and kernels. */
async function sideOf(root: string, name: string): Promise<Side> {
  const { createWasmKernels } = await import(`${root}/src/kernels/wasm-kernels.ts`);
  const { createPredictor } = await import(`${root}/src/nn/index.ts`);
  const { benchModel } = await import(`${root}/scripts/lib/bench-ours.ts`);
  const module = new NodeModule(readFileSync(`${root}/build/kernels-relaxed.wasm`));
  const kernels = createWasmKernels(module, { capacityBytes: 128 * 1024 * 1024 });
  const predictor = createPredictor(benchModel(encoding, kernels), kernels);
  return { name, predict: (x, batch) => predictor.predict(x, batch) };
}

const here = resolve(new URL('..', import.meta.url).pathname);
const sides = [await sideOf(resolve(values.base), 'base'), await sideOf(here, 'this')];
const { test } = loadDataset(MNIST_DIR);
const d = 784;
const batch = test.images.subarray(0, 1000 * d);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const single = sides.map(() => [] as number[]);
const batched = sides.map(() => [] as number[]);
console.log(`bench-ab: ${encoding}, base ${values.base}, load ${loadavg()[0].toFixed(2)}`);
let image = 0;
for (let r = 0; r < rounds; r++) {
  sides.forEach((side, s) => {
    for (let w = 0; w < 200; w++) side.predict(test.images.subarray(w * d, (w + 1) * d), 1);
    const t0 = cpuMs();
    for (let i = 0; i < 2000; i++) {
      const row = image++ % test.count;
      side.predict(test.images.subarray(row * d, (row + 1) * d), 1);
    }
    single[s].push(((cpuMs() - t0) * 1000) / 2000);
    side.predict(batch, 1000);
    const t1 = cpuMs();
    for (let i = 0; i < 3; i++) side.predict(batch, 1000);
    batched[s].push(3000 / ((cpuMs() - t1) / 1000));
  });
}
const [s0, s1] = single.map(median);
const [b0, b1] = batched.map(median);
console.log(`  one image, CPU µs: base ${s0.toFixed(1)}, this ${s1.toFixed(1)}: ${(s0 / s1).toFixed(2)}x`);
console.log(
  `  batch-1000, images per CPU-s: base ${Math.round(b0)}, this ${Math.round(b1)}: ${(b1 / b0).toFixed(2)}x`,
);
console.log(`  (medians of ${rounds} alternated rounds; load ${loadavg()[0].toFixed(2)} at the end)`);
