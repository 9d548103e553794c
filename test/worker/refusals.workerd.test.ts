/**
 * Requests that used to go wrong, through the real app: a fine-tune that diverges (was a 500, or a 200 with
 * figures from NaN weights), a rollback to a blob the format accepts but the network cannot run (was a 200, then
 * 503 on every /predict), and a /predict without `pixelScale` (was a 400).
 */
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/format/index.ts';
import app from '../../src/worker/index.ts';
import type { Bindings } from '../../src/worker/config.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { ModelStore } from '../../src/worker/model-store.ts';
import {
  imageAt,
  inkedPixels,
  makeModel,
  NO_GUARD,
  post,
  randomPixels,
  seed,
  testEnv,
  type ErrorJson,
} from './helpers.ts';

const base = env as unknown as Bindings;
beforeEach(() => resetModelCache());

async function keys(e: Bindings): Promise<string[]> {
  return (await e.MODELS.list({ prefix: e.MODEL_PREFIX })).objects.map((o) => o.key).sort();
}

describe('a fine-tune whose training diverges', () => {
  // 256 random images × 8 full-batch steps at learning rate 1: a 784-64-64-10 net's loss overflows to NaN.
  const pixels = randomPixels(256, 42);
  const examples = Array.from({ length: 256 }, (_, i) => ({ image: imageAt(pixels, i), label: i % 10 }));
  const request = { pixelScale: '0-255', examples, steps: 8, learningRate: 1, holdOut: 0, replay: 0 };

  for (const dryRun of [false, true]) {
    it(`should answer 422 training_diverged with the step, saving nothing${dryRun ? ' (dry run)' : ''}`, async () => {
      const e = testEnv(base, NO_GUARD);
      const { store, version } = await seed(e, 1, 'f32', [784, 64, 64, 10]);
      const before = await keys(e);
      const { etag } = (await store.readPointer())!;
      const res = await app.request('/fine-tune', post({ ...request, dryRun }), e);
      expect(res.status).toBe(422);
      const err = (await res.json()) as ErrorJson;
      expect(err.error.code).toBe('training_diverged');
      const details = err.error.details as {
        step: number;
        settings: { method: string; epochs: number };
        loss: string;
        parentVersion: string;
      };
      expect(details.settings).toMatchObject({ method: 'full-batch', epochs: 8 });
      // The first step starts from finite weights, so its loss is finite; a step past 8 means the final weights.
      expect(details.step).toBeGreaterThan(1);
      expect(details.step).toBeLessThanOrEqual(9);
      expect(['NaN', 'Infinity', '-Infinity']).toContain(details.loss);
      expect(details.parentVersion).toBe(version);
      expect(err.error.message).toContain(`step ${Math.min(details.step, 8)}`);
      expect(await keys(e)).toEqual(before);
      expect((await store.readPointer())!.etag).toBe(etag);
    });
  }

  it('should still fine-tune the same examples at a sane learning rate', async () => {
    const e = testEnv(base, NO_GUARD);
    await seed(e, 1, 'f32', [784, 64, 64, 10]);
    const res = await app.request('/fine-tune', post({ ...request, learningRate: 0.01, dryRun: true }), e);
    expect(res.status).toBe(200);
  });
});

describe('a blob the format accepts but the network cannot run (LeakyReLU slope 1)', () => {
  function slopeOne(): Uint8Array {
    const { net } = makeModel(3);
    return encodeModel({
      sizes: [784, 32, 10],
      alpha: 1,
      encoding: 'f32',
      params: new Float32Array(net.params),
      metadata: { dataset: 'synthetic', createdAt: new Date().toISOString() },
    });
  }

  it('should refuse a rollback to it with 422, changing nothing, and keep serving', async () => {
    const e = testEnv(base);
    const { store, version } = await seed(e);
    const bad = await store.putVersion(slopeOne());
    const { etag, pointer } = (await store.readPointer())!;
    const res = await app.request('/model/rollback', post({ version: bad }), e);
    expect(res.status).toBe(422);
    const err = (await res.json()) as ErrorJson;
    expect(err.error.code).toBe('version_unusable');
    expect(err.error.details).toMatchObject({ version: bad, reason: 'unsupported', alpha: 1 });
    expect(err.error.message).toMatch(/alpha/);
    const after = (await store.readPointer())!;
    expect(after.etag).toBe(etag);
    expect(after.pointer).toEqual(pointer);
    const predict = await app.request('/predict', post({ image: new Array(784).fill(0) }, null), e);
    expect(predict.status).toBe(200);
    expect(predict.headers.get('X-Model-Version')).toBe(version);
  });

  it('should answer 503 model_unsupported if it is made current behind the API, and keep the last good model', async () => {
    const e = testEnv(base);
    const { store, version } = await seed(e);
    const image = { image: new Array(784).fill(0) };
    expect((await app.request('/predict', post(image, null), e)).status).toBe(200);
    const bad = await store.putVersion(slopeOne());
    await store.makeCurrent(bad, 'publish');
    const stale = await app.request('/predict', post(image, null), e);
    expect(stale.status).toBe(200);
    expect(stale.headers.get('X-Model-Version')).toBe(version);
    expect(stale.headers.get('X-Model-Stale')).toBe('model_unsupported');

    resetModelCache();
    const cold = await app.request('/predict', post(image, null), e);
    expect(cold.status).toBe(503);
    expect(((await cold.json()) as ErrorJson).error.code).toBe('model_unsupported');
  });
});

describe('POST /predict without pixelScale', () => {
  interface Answer {
    digit: number;
    probabilities: number[];
    pixelScale: string;
    pixelScaleInferred: boolean;
    predictions?: { probabilities: number[] }[];
  }
  const flat = imageAt(inkedPixels(1, 8), 0);

  it('should infer 0-255 from a pixel above 1, 0-1 otherwise, and say so', async () => {
    const e = testEnv(base);
    await seed(e);
    const ask = async (body: unknown) => {
      const res = await app.request('/predict', post(body, null), e);
      expect(res.status).toBe(200);
      return (await res.json()) as Answer;
    };
    const explicit = await ask({ pixelScale: '0-255', image: flat });
    expect(explicit).toMatchObject({ pixelScale: '0-255', pixelScaleInferred: false });
    const bytes = await ask({ image: flat });
    expect(bytes).toMatchObject({ pixelScale: '0-255', pixelScaleInferred: true });
    expect(bytes.probabilities).toEqual(explicit.probabilities);
    const unit = await ask({ image: flat.map((v) => v / 255) });
    expect(unit).toMatchObject({ pixelScale: '0-1', pixelScaleInferred: true });
    unit.probabilities.forEach((p, j) => expect(p).toBeCloseTo(explicit.probabilities[j], 6));
    // One image above 1 decides for the whole batch.
    const batch = await ask({ images: [flat.map((v) => v / 255), flat] });
    expect(batch).toMatchObject({ pixelScale: '0-255', pixelScaleInferred: true });
    // (A batch runs another GEMM path than one image: equal to float rounding.)
    batch.predictions![1].probabilities.forEach((p, j) =>
      expect(p).toBeCloseTo(explicit.probabilities[j], 6),
    );
  });

  it('should still refuse pixels outside the inferred scale, and keep the explicit checks', async () => {
    const e = testEnv(base);
    await seed(e);
    const refuse = async (body: unknown, pattern: RegExp) => {
      const res = await app.request('/predict', post(body, null), e);
      expect(res.status).toBe(400);
      const err = (await res.json()) as ErrorJson;
      expect(err.error.code).toBe('validation_error');
      expect(err.error.message).toMatch(pattern);
    };
    await refuse({ image: [300, ...flat.slice(1)] }, /inferred pixelScale 0-255/);
    await refuse({ image: [-0.5, ...flat.slice(1).map(() => 0)] }, /inferred pixelScale 0-1/);
    await refuse({ pixelScale: '0-1', image: flat }, /declared pixelScale 0-1/);
    await refuse({ pixelScale: null, image: flat }, /pixelScale/);
  });
});

describe('error details', () => {
  it('should stay small for a 2.3 MB body with 200,000 unknown keys', async () => {
    const e = testEnv(base);
    await seed(e);
    const extra = Array.from({ length: 200_000 }, (_, i) => `"k${i}":10`).join(',');
    const body = `{"pixelScale":"0-255","image":[${new Array(784).fill(0).join(',')}],${extra}}`;
    expect(body.length).toBeGreaterThan(2_200_000);
    const res = await app.request('/predict', post(body, null), e);
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text.length).toBeLessThan(8 * 1024);
    const err = JSON.parse(text) as ErrorJson;
    expect(err.error.code).toBe('validation_error');
    expect(err.error.message).toMatch(/more characters\)$/);
    const details = err.error.details as { total: number; issues: { message: string }[] };
    expect(details.total).toBeGreaterThanOrEqual(1);
    expect(details.issues.length).toBeLessThanOrEqual(20);
  });

  it('should list at most 20 issues and count them all', async () => {
    const e = testEnv(base);
    await seed(e);
    const images = Array.from({ length: 30 }, () => ['x']);
    const res = await app.request('/predict', post({ pixelScale: '0-255', images }, null), e);
    expect(res.status).toBe(400);
    const details = ((await res.json()) as ErrorJson).error.details as { total: number; issues: unknown[] };
    expect(details.issues).toHaveLength(20);
    expect(details.total).toBeGreaterThan(20);
  });
});

describe('a batch of 256 images of strings (issue objects bounded, bounded-issues.ts)', () => {
  it('should be a 400 naming every bad image, and /predict should keep answering', async () => {
    const e = testEnv(base);
    await seed(e);
    const images = Array.from({ length: 256 }, () => Array(784).fill('a'));
    const res = await app.request('/predict', post({ images }, null), e);
    expect(res.status).toBe(400);
    const err = (await res.json()) as ErrorJson;
    expect(err.error.code).toBe('validation_error');
    expect(err.error.message).toBe('images.0: an image is 784 numbers or 28 rows of 28 numbers');
    expect((err.error.details as { total: number }).total).toBe(256);
    const ok = await app.request(
      '/predict',
      post({ image: new Array(784).fill(0).fill(255, 300, 340) }, null),
      e,
    );
    expect(ok.status).toBe(200);
  });
});

describe('rollback to the current version', () => {
  it('should answer 409 already_current and write nothing', async () => {
    const e = testEnv(base);
    const { store, version } = await seed(e);
    const before = await store.readPointer();
    const res = await app.request('/model/rollback', post({ version }), e);
    expect(res.status).toBe(409);
    expect(((await res.json()) as ErrorJson).error.code).toBe('already_current');
    expect(await store.readPointer()).toEqual(before);
  });
});

describe('a fine-tuned version', () => {
  it('should carry none of the accuracy figures measured on its parent', async () => {
    const e = testEnv(base, NO_GUARD);
    const store = new ModelStore(e.MODELS, e.MODEL_PREFIX!);
    const { net, checkSetBytes } = makeModel(4);
    const parent = encodeModel({
      sizes: [784, 32, 10],
      alpha: 0.01,
      encoding: 'f32',
      params: new Float32Array(net.params),
      metadata: {
        dataset: 'synthetic',
        createdAt: new Date().toISOString(),
        testAccuracy: 0.99,
        validationAccuracy: 0.98,
        testAccuracyByEncoding: { f32: 0.99, int8: 0.989 },
        checkSet: 'checksets/test-64.bin',
      },
    });
    await store.putCheckSet('checksets/test-64.bin', checkSetBytes);
    await store.publish(parent);
    const parentInfo = (await (await app.request('/model', {}, e)).json()) as {
      metadata: Record<string, unknown>;
    };
    expect(parentInfo.metadata.testAccuracyByEncoding).toEqual({ f32: 0.99, int8: 0.989 });
    const example = { image: imageAt(randomPixels(1, 5), 0), label: 4 };
    const res = await app.request(
      '/fine-tune',
      post({ pixelScale: '0-255', examples: [example], steps: 2 }),
      e,
    );
    expect(res.status).toBe(200);
    const info = (await (await app.request('/model', {}, e)).json()) as {
      accuracy: { test: number | null; validation: number | null };
      metadata: Record<string, unknown>;
    };
    expect(info.accuracy).toEqual({ test: null, validation: null });
    for (const key of ['testAccuracy', 'validationAccuracy', 'testAccuracyByEncoding']) {
      expect(info.metadata).not.toHaveProperty(key);
    }
    expect(info.metadata.checkSet).toBe('checksets/test-64.bin');
  });
});
