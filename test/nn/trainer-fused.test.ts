import { afterAll, describe, expect, it } from 'vitest';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createNormal, createRng, Mlp, Trainer, type OptimizerOptions } from '../../src/nn/index.ts';
import { loadKernels, type LoadedKernels } from '../../scripts/lib/kernels-node.ts';

const spec = { sizes: [37, 41, 19, 10], alpha: 0.01 };
const plain: OptimizerOptions = { kind: 'sgd', lr: 0.1, momentum: 0, l1: 0, l2: 0 };

function batchOf(rows: number, d: number, seed: number): Float32Array {
  const normal = createNormal(createRng(seed));
  return Float32Array.from({ length: rows * d }, () => normal());
}

/** The parameters after `steps` steps of `options` from the same start on the same batch. */
function train(kernels: Kernels, options: OptimizerOptions, keepGradients: boolean, steps = 3): Float32Array {
  const net = Mlp.create(spec, kernels, { scheme: 'he', seed: 21 });
  const trainer = new Trainer(net, options, 9, { keepGradients });
  const x = batchOf(9, spec.sizes[0], 22);
  const labels = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  for (let s = 0; s < steps; s++) trainer.step(x, labels, 9);
  const params = net.params.slice();
  trainer.dispose();
  net.dispose();
  return params;
}

function worstDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('Trainer fused plain-SGD update', () => {
  const loaded: LoadedKernels[] = [];
  afterAll(async () => {
    for (const k of loaded) await k.dispose();
  });

  it('should give the same weights as the separate gradient and update (TypeScript kernels)', () => {
    const k = createTsKernels();
    const fused = train(k, plain, false);
    const separate = train(k, plain, true);
    expect(worstDifference(fused, separate)).toBeLessThan(1e-6);
    expect(worstDifference(fused, train(k, { ...plain, lr: 0 }, false))).toBeGreaterThan(1e-3);
  });

  for (const threads of [1, 2]) {
    it(`should train like the TypeScript reference on the WebAssembly kernels (${threads} thread(s))`, async () => {
      const wasm = await loadKernels({ backend: 'wasm', threads, capacityBytes: 16 * 1024 * 1024 });
      loaded.push(wasm);
      const reference = train(createTsKernels(), plain, true);
      expect(worstDifference(train(wasm, plain, false), reference)).toBeLessThan(1e-5);
      expect(worstDifference(train(wasm, plain, true), reference)).toBeLessThan(1e-5);
      const momentum = { ...plain, momentum: 0.9, l2: 1e-3 };
      expect(
        worstDifference(train(wasm, momentum, false), train(createTsKernels(), momentum, false)),
      ).toBeLessThan(1e-5);
    });
  }
});
