import { describe, expect, it } from 'vitest';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createNormal, createRng, Mlp, Trainer, type OptimizerOptions } from '../../src/nn/index.ts';

const k = createTsKernels();
const spec = { sizes: [6, 5, 4, 3], alpha: 0.1 };
const plain: OptimizerOptions = { kind: 'sgd', lr: 0, momentum: 0, l1: 0, l2: 0 };

function batchOf(rows: number, d: number, seed: number): Float32Array {
  const normal = createNormal(createRng(seed));
  return Float32Array.from({ length: rows * d }, () => normal());
}

describe('Trainer.step gradients', () => {
  it('should match central differences of the mean loss for every parameter', () => {
    const net = Mlp.create(spec, k, { scheme: 'he', seed: 3 });
    const x = batchOf(4, 6, 11);
    const labels = [0, 2, 1, 2];
    const trainer = new Trainer(net, plain, 4, { keepGradients: true }); // lr 0: the step computes gradients and leaves params alone
    const before = net.params.slice();
    trainer.step(x, labels, 4);
    expect(net.params).toEqual(before);
    const eps = 1e-3;
    let worst = 0;
    for (let i = 0; i < net.params.length; i++) {
      const old = net.params[i];
      net.params[i] = old + eps;
      const up = net.evaluate(x, labels, 4).loss;
      net.params[i] = old - eps;
      const down = net.evaluate(x, labels, 4).loss;
      net.params[i] = old;
      const numeric = (up - down) / (2 * eps);
      worst = Math.max(worst, Math.abs(numeric - trainer.grads[i]) / Math.max(1e-2, Math.abs(numeric)));
    }
    expect(worst).toBeLessThan(2e-2);
  });

  it('should report the batch loss evaluate() computes before the update', () => {
    const net = Mlp.create(spec, k, { scheme: 'he', seed: 4 });
    const x = batchOf(5, 6, 12);
    const labels = [0, 1, 2, 0, 1];
    const expected = net.evaluate(x, labels, 5);
    const r = new Trainer(net, { ...plain, lr: 0.1 }, 8).step(x, labels, 5);
    expect(r.loss).toBeCloseTo(expected.loss, 5);
    expect(r.correct).toBe(Math.round(expected.accuracy * 5));
  });
});

describe('Trainer regularisation', () => {
  it('should apply L1 and L2 to weights and never to biases', () => {
    const net = Mlp.create(spec, k, { scheme: 'he', seed: 5 });
    net.bias(0).fill(0.5);
    const x = batchOf(2, 6, 13);
    const labels = [1, 2];
    const lr = 0.1;
    const [l1, l2] = [0.01, 0.02];
    // Same data gradient with and without decay; the difference must be exactly the decay term.
    const a = Mlp.fromParams(spec, k, net.params);
    const b = Mlp.fromParams(spec, k, net.params);
    new Trainer(a, { ...plain, lr }, 2).step(x, labels, 2);
    new Trainer(b, { ...plain, lr, l1, l2 }, 2).step(x, labels, 2);
    for (let l = 0; l < net.layers.length; l++) {
      const w0 = net.weight(l);
      const diff = Array.from(w0, (w, i) => a.weight(l)[i] - b.weight(l)[i]);
      const expected = Array.from(w0, (w) => lr * (l1 * Math.sign(w) + 2 * l2 * w));
      diff.forEach((d, i) => expect(d).toBeCloseTo(expected[i], 6));
      expect(Array.from(b.bias(l))).toEqual(Array.from(a.bias(l)));
    }
    expect(new Trainer(b, { ...plain, l1, l2 }, 2).penalty()).toBeGreaterThan(0);
  });

  it('should follow the momentum recurrence v = m·v + g, w -= lr·v', () => {
    const net = Mlp.create(spec, k, { scheme: 'he', seed: 6 });
    const x = batchOf(3, 6, 14);
    const labels = [0, 1, 2];
    const probe = new Trainer(Mlp.fromParams(spec, k, net.params), plain, 3, { keepGradients: true });
    probe.step(x, labels, 3);
    const g1 = probe.grads.slice();
    const t = new Trainer(net, { ...plain, lr: 0.05, momentum: 0.9 }, 3);
    const w0 = net.params.slice();
    t.step(x, labels, 3);
    net.params.forEach((w, i) => expect(w).toBeCloseTo(w0[i] - 0.05 * g1[i], 6));
  });
});

describe('Mlp.create', () => {
  it('should be reproducible from its seed and zero the biases', () => {
    const a = Mlp.create(spec, k, { scheme: 'origin', seed: 9 });
    const b = Mlp.create(spec, k, { scheme: 'origin', seed: 9 });
    const c = Mlp.create(spec, k, { scheme: 'origin', seed: 10 });
    expect(a.params).toEqual(b.params);
    expect(a.params).not.toEqual(c.params);
    for (let l = 0; l < a.layers.length; l++) expect(a.bias(l).every((v) => v === 0)).toBe(true);
  });

  it('should scale weights by 0.01 (origin) or sqrt(2/fanIn) (He)', () => {
    const big = { sizes: [400, 300, 10], alpha: 0.01 };
    const std = (w: Float32Array) => Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std(Mlp.create(big, k, { scheme: 'origin', seed: 1 }).weight(0))).toBeCloseTo(0.01, 3);
    expect(std(Mlp.create(big, k, { scheme: 'he', seed: 1 }).weight(0)) / Math.sqrt(2 / 400)).toBeCloseTo(
      1,
      1,
    );
  });

  it('should reject impossible specs and parameter counts', () => {
    expect(() => Mlp.create({ sizes: [784], alpha: 0.01 }, k)).toThrow(RangeError);
    expect(() => Mlp.create({ sizes: [784, 0, 10], alpha: 0.01 }, k)).toThrow(RangeError);
    expect(() => Mlp.create({ sizes: [4, 2], alpha: -1 }, k)).toThrow(RangeError);
    expect(() => Mlp.fromParams(spec, k, new Float32Array(3))).toThrow(RangeError);
  });
});

describe('Mlp.predict', () => {
  it('should return rows of probabilities, the same whatever the chunking', () => {
    const net = Mlp.create({ sizes: [6, 8, 3], alpha: 0.01 }, k, { scheme: 'he', seed: 2 });
    const x = batchOf(300, 6, 15); // more rows than one internal chunk
    const all = net.predict(x, 300);
    const one = net.predict(x.subarray(299 * 6), 1);
    for (let i = 0; i < 300; i++) {
      const s = all.subarray(i * 3, i * 3 + 3).reduce((a, b) => a + b, 0);
      expect(s).toBeCloseTo(1, 5);
    }
    expect(Array.from(one)).toEqual(Array.from(all.subarray(299 * 3)));
  });
});
