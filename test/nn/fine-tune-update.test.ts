import { describe, expect, it } from 'vitest';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import {
  createNormal,
  createRng,
  DEFAULT_UPDATE,
  fineTuneUpdate,
  fitToWork,
  Mlp,
  UpdateDiverged,
  workOf,
  type UpdateSettings,
} from '../../src/nn/index.ts';

const k = createTsKernels();
const spec = { sizes: [8, 12, 3], alpha: 0.01 };

/** Three separable clusters in 8 dimensions, `n` rows. */
function clusters(n: number, seed: number) {
  const normal = createNormal(createRng(seed));
  const x = new Float32Array(n * 8);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let j = 0; j < 8; j++) x[i * 8 + j] = (j % 3 === c ? 1 : 0) + 0.2 * normal();
  }
  return { x, labels, count: n };
}

const start = (() => {
  const net = Mlp.create(spec, k, { scheme: 'he', seed: 7 });
  const params = net.params.slice();
  net.dispose();
  return params;
})();

function lossOf(params: Float32Array, data: ReturnType<typeof clusters>): number {
  const net = Mlp.fromParams(spec, k, params);
  const { loss } = net.evaluate(data.x, data.labels, data.count);
  net.dispose();
  return loss;
}

const settings = (s: Partial<UpdateSettings> = {}): UpdateSettings => ({
  ...DEFAULT_UPDATE,
  replay: 0,
  anchor: 0,
  learningRate: 0.1,
  ...s,
});

describe('fineTuneUpdate', () => {
  const data = clusters(60, 1);

  it('should lower the loss with shuffled mini-batches and momentum, leaving the start weights untouched', () => {
    const before = start.slice();
    const r = fineTuneUpdate({
      spec,
      start,
      examples: data,
      settings: settings({ epochs: 5, batchSize: 16 }),
      kernels: k,
    });
    expect(start).toEqual(before);
    expect(r.steps).toBe(5 * Math.ceil(60 / 16));
    expect(r.work).toBe(workOf(settings({ epochs: 5, batchSize: 16 }), 60));
    expect(lossOf(r.params, data)).toBeLessThan(lossOf(start, data) * 0.5);
    expect(r.losses).toHaveLength(5);
  });

  it('should give the same weights for the same seed and different ones for another', () => {
    const s = settings({ epochs: 2, batchSize: 8 });
    const a = fineTuneUpdate({ spec, start, examples: data, settings: s, kernels: k });
    const b = fineTuneUpdate({ spec, start, examples: data, settings: s, kernels: k });
    const c = fineTuneUpdate({ spec, start, examples: data, settings: { ...s, seed: 2 }, kernels: k });
    expect(b.params).toEqual(a.params);
    expect(c.params).not.toEqual(a.params);
  });

  it('should take `epochs` plain full-batch steps in the full-batch form, as the old route did', () => {
    const s = settings({
      method: 'full-batch',
      epochs: 3,
      momentum: 0,
      schedule: 'constant',
      learningRate: 0.05,
    });
    const r = fineTuneUpdate({ spec, start, examples: data, settings: s, kernels: k });
    expect(r.steps).toBe(3);
    expect(r.work).toBe(180);
    // The same three steps by hand: plain SGD on all 60 rows.
    const net = Mlp.fromParams(spec, k, start);
    const grads = new Float32Array(net.params.length);
    for (let step = 0; step < 3; step++) {
      const eps = 1e-3;
      for (let i = 0; i < net.params.length; i++) {
        const old = net.params[i];
        net.params[i] = old + eps;
        const up = net.evaluate(data.x, data.labels, 60).loss;
        net.params[i] = old - eps;
        const down = net.evaluate(data.x, data.labels, 60).loss;
        net.params[i] = old;
        grads[i] = (up - down) / (2 * eps);
      }
      for (let i = 0; i < net.params.length; i++) net.params[i] -= 0.05 * grads[i];
    }
    let worst = 0;
    for (let i = 0; i < r.params.length; i++) worst = Math.max(worst, Math.abs(r.params[i] - net.params[i]));
    net.dispose();
    expect(worst).toBeLessThan(2e-3);
  });

  it('should mix replay rows into every batch and count them as work', () => {
    const replay = clusters(30, 9);
    const s = settings({ epochs: 2, batchSize: 20, replay: 0.5 });
    const r = fineTuneUpdate({ spec, start, examples: data, replay, settings: s, kernels: k });
    expect(r.replayRows).toBe(2 * 3 * 10);
    expect(r.work).toBe(2 * 60 + 60);
    expect(workOf(s, 60)).toBe(r.work);
    expect(() => fineTuneUpdate({ spec, start, examples: data, settings: s, kernels: k })).toThrow(
      /replay set/,
    );
  });

  it('should stay nearer the parent with an L2 pull towards it', () => {
    const s = settings({ epochs: 4, batchSize: 10 });
    const distance = (p: Float32Array) => Math.sqrt(p.reduce((sum, v, i) => sum + (v - start[i]) ** 2, 0));
    const free = fineTuneUpdate({ spec, start, examples: data, settings: s, kernels: k });
    const pulled = fineTuneUpdate({ spec, start, examples: data, settings: { ...s, anchor: 2 }, kernels: k });
    expect(distance(pulled.params)).toBeLessThan(distance(free.params) * 0.9);
  });

  it('should throw UpdateDiverged, naming the step, when the loss stops being finite', () => {
    const s = settings({
      method: 'full-batch',
      epochs: 50,
      momentum: 0.9,
      learningRate: 1e6,
      schedule: 'constant',
    });
    let error: unknown;
    try {
      fineTuneUpdate({ spec, start, examples: data, settings: s, kernels: k });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UpdateDiverged);
    expect((error as UpdateDiverged).step).toBeGreaterThan(0);
    expect((error as UpdateDiverged).message).toMatch(/diverged/);
  });

  it('should refuse bad settings before any work', () => {
    for (const bad of [{ epochs: 0 }, { learningRate: -1 }, { momentum: 1 }, { replay: NaN }]) {
      expect(() =>
        fineTuneUpdate({ spec, start, examples: data, settings: settings(bad), kernels: k }),
      ).toThrow(RangeError);
    }
  });
});

describe('fitToWork', () => {
  it('should scale the default epochs (then replay) to fit any ceiling, and leave chosen epochs alone', () => {
    for (const count of [1, 7, 64, 200, 256]) {
      for (const maxWork of [256, 300, 1000, 2048, 25600]) {
        if (count > maxWork) continue;
        const s = fitToWork(DEFAULT_UPDATE, count, maxWork, false);
        expect(workOf(s, count)).toBeLessThanOrEqual(maxWork);
        expect(s.epochs).toBeGreaterThanOrEqual(1);
      }
    }
    expect(workOf(fitToWork(DEFAULT_UPDATE, 256, 2048, false), 256)).toBeGreaterThan(1024);
    const chosen = { ...DEFAULT_UPDATE, epochs: 50 };
    expect(fitToWork(chosen, 256, 2048, true)).toBe(chosen);
  });
});
