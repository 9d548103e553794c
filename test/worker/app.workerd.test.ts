import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import app from '../../src/worker/index.ts';
import type { Bindings } from '../../src/worker/config.ts';
import { argmax } from '../../src/nn/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { ModelStore } from '../../src/worker/model-store.ts';
import {
  imageAt,
  inkedPixels,
  post,
  randomPixels,
  seed,
  testEnv,
  TOKEN,
  type ErrorJson,
  NO_GUARD,
} from './helpers.ts';

const base = env as unknown as Bindings;

interface PredictJson {
  digit: number;
  confidence: number;
  probabilities: number[];
  modelVersion: string;
  predictions: { digit: number; confidence: number; probabilities: number[] }[];
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

beforeEach(() => resetModelCache());

describe('GET /health', () => {
  it('should name the serving version', async () => {
    const e = testEnv(base);
    const { version } = await seed(e);
    const res = await app.request('/health', {}, e);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', modelVersion: version, stale: null });
  });

  it('should answer 503 with the error shape when nothing was published', async () => {
    const res = await app.request('/health', {}, testEnv(base));
    expect(res.status).toBe(503);
    expect((await json<ErrorJson>(res)).error.code).toBe('no_model');
  });
});

describe('POST /predict', () => {
  it('should match the network on one image, with all ten probabilities and the version', async () => {
    const e = testEnv(base);
    const { version, net } = await seed(e);
    const pixels = inkedPixels(1, 7);
    const res = await app.request(
      '/predict',
      post({ pixelScale: '0-255', image: imageAt(pixels, 0) }, null),
      e,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('X-Model-Version')).toBe(version);
    const body = await json<PredictJson>(res);
    const expected = net.predict(
      Float32Array.from(pixels, (v) => v / 255),
      1,
    );
    expect(body.modelVersion).toBe(version);
    expect(body.probabilities).toHaveLength(10);
    body.probabilities.forEach((p, j) => expect(p).toBeCloseTo(expected[j], 5));
    expect(body.digit).toBe(argmax(expected));
    expect(body.confidence).toBe(body.probabilities[body.digit]);
    expect(body.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('should give the same answer for 0-255, 0-1 and 28 rows of 28', async () => {
    const e = testEnv(base);
    await seed(e);
    const flat = imageAt(inkedPixels(1, 8), 0);
    const rows = Array.from({ length: 28 }, (_, r) => flat.slice(r * 28, r * 28 + 28));
    const answers = await Promise.all(
      [
        { pixelScale: '0-255', image: flat },
        { pixelScale: '0-1', image: flat.map((v) => v / 255) },
        { pixelScale: '0-255', image: rows },
      ].map(async (b) => json<PredictJson>(await app.request('/predict', post(b, null), e))),
    );
    for (const a of answers.slice(1)) {
      expect(a.digit).toBe(answers[0].digit);
      a.probabilities.forEach((p, j) => expect(p).toBeCloseTo(answers[0].probabilities[j], 6));
    }
  });

  it('should answer a batch of 256 in order', async () => {
    const e = testEnv(base);
    const { net } = await seed(e);
    const pixels = inkedPixels(256, 9);
    const images = Array.from({ length: 256 }, (_, i) => imageAt(pixels, i));
    const res = await app.request('/predict', post({ pixelScale: '0-255', images }, null), e);
    expect(res.status).toBe(200);
    const body = await json<PredictJson>(res);
    expect(body.predictions).toHaveLength(256);
    const probs = net.predict(
      Float32Array.from(pixels, (v) => v / 255),
      256,
    );
    body.predictions.forEach((p, i) => expect(p.digit).toBe(argmax(probs.subarray(i * 10, i * 10 + 10))));
  });

  it('should match the network on single images and batches alike once an f32 model re-lays its weights', async () => {
    // 96 hidden units: wide enough that the first single image re-lays the layer [in×out] (src/nn/predictor.ts).
    const e = testEnv(base);
    const { net } = await seed(e, 5, 'f32', [784, 96, 10]);
    const pixels = inkedPixels(3, 10);
    const expected = net.predict(
      Float32Array.from(pixels, (v) => v / 255),
      3,
    );
    const images = [0, 1, 2].map((i) => imageAt(pixels, i));
    const batch = async () =>
      (await json<PredictJson>(await app.request('/predict', post({ pixelScale: '0-255', images }, null), e)))
        .predictions;
    const singles = async () =>
      Promise.all(
        images.map(async (image) =>
          json<PredictJson>(await app.request('/predict', post({ pixelScale: '0-255', image }, null), e)),
        ),
      );
    for (const answers of [await batch(), await singles(), await batch()]) {
      answers.forEach((a, i) =>
        a.probabilities.forEach((p, j) => expect(p).toBeCloseTo(expected[i * 10 + j], 5)),
      );
    }
  });

  it('should serve int8 models', async () => {
    const e = testEnv(base);
    const { version } = await seed(e, 3, 'int8');
    const res = await app.request(
      '/predict',
      post({ pixelScale: '0-255', image: imageAt(randomPixels(1, 1), 0) }, null),
      e,
    );
    expect(res.status).toBe(200);
    expect((await json<PredictJson>(res)).modelVersion).toBe(version);
  });

  it.each(['/predict', '/feedback'])('should allow the configured CORS origins only on %s', async (path) => {
    const open = testEnv(base);
    const pre = await app.request(
      path,
      {
        method: 'OPTIONS',
        headers: { Origin: 'https://a.example', 'Access-Control-Request-Method': 'POST' },
      },
      open,
    );
    expect(pre.status).toBe(204);
    expect(pre.headers.get('Access-Control-Allow-Origin')).toBe('*');
    const listed = testEnv(base, { CORS_ALLOWED_ORIGINS: 'https://a.example, https://b.example' });
    const ask = (origin: string) =>
      app.request(
        path,
        { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' } },
        listed,
      );
    expect((await ask('https://b.example')).headers.get('Access-Control-Allow-Origin')).toBe(
      'https://b.example',
    );
    expect((await ask('https://evil.example')).headers.get('Access-Control-Allow-Origin')).toBeNull();
    const exposed = (await ask('https://a.example')).headers.get('Access-Control-Expose-Headers');
    expect(exposed).toBe(path === '/predict' ? 'X-Model-Version' : null);
  });
});

describe('request validation', () => {
  const image = new Array(784).fill(0);
  const example = { image, label: 3 };
  const cases: [string, string, unknown, string, number?][] = [
    ['predict', 'an unknown pixelScale', { pixelScale: '0-65535', image }, 'validation_error'],
    ['predict', '783 pixels', { pixelScale: '0-255', image: image.slice(1) }, 'validation_error'],
    [
      'predict',
      '28 rows of 27',
      { pixelScale: '0-255', image: Array(28).fill(Array(27).fill(0)) },
      'validation_error',
    ],
    [
      'predict',
      'a pixel above 1 on the 0-1 scale',
      { pixelScale: '0-1', image: [2, ...image.slice(1)] },
      'validation_error',
    ],
    [
      'predict',
      'a negative pixel',
      { pixelScale: '0-255', image: [-1, ...image.slice(1)] },
      'validation_error',
    ],
    [
      'predict',
      'a string pixel',
      { pixelScale: '0-255', image: ['0', ...image.slice(1)] },
      'validation_error',
    ],
    ['predict', 'both image and images', { pixelScale: '0-255', image, images: [image] }, 'validation_error'],
    ['predict', 'neither image nor images', { pixelScale: '0-255' }, 'validation_error'],
    ['predict', 'an empty batch', { pixelScale: '0-255', images: [] }, 'validation_error'],
    ['predict', '257 images', { pixelScale: '0-255', images: Array(257).fill(image) }, 'validation_error'],
    ['predict', 'an unknown field', { pixelScale: '0-255', image, extra: 1 }, 'validation_error'],
    ['predict', 'a JSON array', [image], 'validation_error'],
    ['predict', 'a null image', { pixelScale: '0-255', image: null }, 'validation_error'],
    ['predict', 'a null in a batch', { pixelScale: '0-255', images: [image, null] }, 'validation_error'],
    ['predict', 'images as a string', { pixelScale: '0-255', images: 'abc' }, 'validation_error'],
    [
      'predict',
      'a row that is a number',
      { pixelScale: '0-255', image: [...Array(27).fill(Array(28).fill(0)), 5] },
      'validation_error',
    ],
    ['predict', 'null body', 'null', 'validation_error'],
    ['fine-tune', 'examples as a string', { pixelScale: '0-255', examples: 'abc' }, 'validation_error'],
    ['fine-tune', 'a null example', { pixelScale: '0-255', examples: [null] }, 'validation_error'],
    [
      'fine-tune',
      'an example without image',
      { pixelScale: '0-255', examples: [{ label: 1 }] },
      'validation_error',
    ],
    ['fine-tune', 'label 10', { pixelScale: '0-255', examples: [{ image, label: 10 }] }, 'validation_error'],
    [
      'fine-tune',
      'label 1.5',
      { pixelScale: '0-255', examples: [{ image, label: 1.5 }] },
      'validation_error',
    ],
    ['fine-tune', 'no examples', { pixelScale: '0-255', examples: [] }, 'validation_error'],
    [
      'fine-tune',
      '257 examples',
      { pixelScale: '0-255', examples: Array(257).fill(example) },
      'validation_error',
    ],
    ['fine-tune', '0 steps', { pixelScale: '0-255', examples: [example], steps: 0 }, 'validation_error'],
    ['fine-tune', '101 steps', { pixelScale: '0-255', examples: [example], steps: 101 }, 'validation_error'],
    [
      'fine-tune',
      'learning rate 0',
      { pixelScale: '0-255', examples: [example], learningRate: 0 },
      'validation_error',
    ],
    [
      'fine-tune',
      'learning rate 2',
      { pixelScale: '0-255', examples: [example], learningRate: 2 },
      'validation_error',
    ],
    [
      'fine-tune',
      'a negative l2',
      { pixelScale: '0-255', examples: [example], l2: -0.1 },
      'validation_error',
    ],
    [
      'fine-tune',
      'l1 above the bound',
      { pixelScale: '0-255', examples: [example], l1: 0.5 },
      'validation_error',
    ],
    [
      'fine-tune',
      'dryRun not a boolean',
      { pixelScale: '0-255', examples: [example], dryRun: 'yes' },
      'validation_error',
    ],
    [
      'fine-tune',
      'examples × steps above the ceiling',
      { pixelScale: '0-255', examples: Array(100).fill(example), steps: 100 },
      'limit_exceeded',
    ],
    ['model/rollback', 'no version', {}, 'validation_error'],
    ['predict', 'malformed JSON', '{"pixelScale": "0-255", "image": [1,2', 'malformed_json'],
  ];

  for (const [route, what, body, code] of cases) {
    it(`should refuse ${what} on /${route} with 400 ${code}`, async () => {
      const e = testEnv(base);
      await seed(e);
      const res = await app.request(`/${route}`, post(body), e);
      expect(res.status).toBe(400);
      const err = await json<ErrorJson>(res);
      expect(err.error.code).toBe(code);
      expect(err.error.message.length).toBeGreaterThan(5);
      expect(Object.keys(err.error).sort()).toEqual(['code', 'details', 'message']);
    });
  }

  it('should name the offending pixel', async () => {
    const e = testEnv(base);
    const res = await app.request(
      '/predict',
      post({ pixelScale: '0-1', image: [...image.slice(5), 3, 0, 0, 0, 0] }),
      e,
    );
    const err = await json<ErrorJson>(res);
    expect(err.error.message).toContain('image.779');
    expect(err.error.message).toContain('0-1');
  });

  it('should answer 415 to a body that is not JSON', async () => {
    const e = testEnv(base);
    const res = await app.request(
      '/predict',
      { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' },
      e,
    );
    expect(res.status).toBe(415);
    expect((await json<ErrorJson>(res)).error.code).toBe('unsupported_media_type');
  });

  it('should answer 415 unsupported_media_type, not http_error, to a Content-Type the route validator refuses', async () => {
    const e = testEnv(base);
    await seed(e);
    for (const type of ['application/json ; charset=utf-8', 'application/json;charset=utf-8;']) {
      const res = await app.request(
        '/predict',
        { method: 'POST', headers: { 'Content-Type': type }, body: '{}' },
        e,
      );
      expect(res.status, type).toBe(415);
      const err = await json<ErrorJson>(res);
      expect(err.error.code).toBe('unsupported_media_type');
      expect(err.error.details).toEqual({ contentType: type });
    }
  });

  it('should answer 400 json_too_deep to a long body nested past 16 levels, before parsing it', async () => {
    // 2 million nested arrays (3.8 MiB, under the 4 MiB limit) held ~110 MB in JSON.parse: a review's find.
    const e = testEnv(base);
    await seed(e);
    const levels = 1_000_000;
    const deep = `{"image":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    for (const path of ['/predict', '/fine-tune']) {
      const res = await app.request(path, post(deep), e);
      expect(res.status, path).toBe(400);
      const err = await json<ErrorJson>(res);
      expect(err.error.code, path).toBe('json_too_deep');
      expect(err.error.details).toEqual({ maxDepth: 16 });
    }
    // A short deep body is left to the parser and zod (a few MB at most); a long shallow batch is served.
    const short = await app.request('/predict', post(`{"image":${'['.repeat(20)}${']'.repeat(20)}}`), e);
    expect((await json<ErrorJson>(short)).error.code).toBe('validation_error');
    const images = Array.from({ length: 40 }, () => Array.from({ length: 28 }, () => Array(28).fill(200)));
    const batch = await app.request('/predict', post({ pixelScale: '0-255', images }), e);
    expect(batch.status).toBe(200);
    expect(((await batch.json()) as { predictions: unknown[] }).predictions).toHaveLength(40);
  });

  it('should answer 413 to an oversized body', async () => {
    const e = testEnv(base);
    const big = JSON.stringify({ pixelScale: '0-255', image: ' '.repeat(5 * 1024 * 1024) });
    const res = await app.request('/predict', post(big), e);
    expect(res.status).toBe(413);
    expect((await json<ErrorJson>(res)).error.code).toBe('body_too_large');
  });

  it('should answer 404 in the error shape for an unknown route', async () => {
    const res = await app.request('/nope', {}, testEnv(base));
    expect(res.status).toBe(404);
    expect((await json<ErrorJson>(res)).error.code).toBe('not_found');
  });
});

describe('auth on /fine-tune and /model/rollback', () => {
  const body = {
    pixelScale: '0-255',
    examples: [{ image: new Array(784).fill(0), label: 1 }],
    steps: 1,
    dryRun: true,
  };

  it('should be disabled (403) when no token is configured', async () => {
    const e = testEnv(base, { FINE_TUNE_TOKEN: undefined });
    await seed(e);
    for (const path of ['/fine-tune', '/model/rollback']) {
      const res = await app.request(path, post(body, TOKEN), e);
      expect(res.status).toBe(403);
      expect((await json<ErrorJson>(res)).error.code).toBe('disabled');
    }
  });

  it('should answer 401 to a missing or wrong token and 200 to the right one', async () => {
    const e = testEnv(base);
    await seed(e);
    const missing = await app.request('/fine-tune', post(body, null), e);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('WWW-Authenticate')).toContain('Bearer');
    const wrong = await app.request('/fine-tune', post(body, `${TOKEN}x`), e);
    expect(wrong.status).toBe(401);
    expect((await json<ErrorJson>(wrong)).error.code).toBe('unauthorized');
    const right = await app.request('/fine-tune', post(body, TOKEN), e);
    expect(right.status).toBe(200);
  });

  it('should say what is wrong with an Authorization header that is there but not `Bearer <token>`', async () => {
    const e = testEnv(base);
    const missing = await json<ErrorJson>(await app.request('/fine-tune', post(body, null), e));
    expect(missing.error.message).toMatch(/^missing/);
    const extra = await app.request(
      '/fine-tune',
      post(body, null, { Authorization: `Bearer ${TOKEN} x` }),
      e,
    );
    expect(extra.status).toBe(401);
    expect((await json<ErrorJson>(extra)).error.message).toBe(
      '`Authorization` must be `Bearer <token>` (one token, nothing after it)',
    );
  });
});

describe('POST /fine-tune', () => {
  // 16 random images all labelled 7: learnable in a few steps by a small net.
  const pixels = inkedPixels(16, 42);
  const examples = Array.from({ length: 16 }, (_, i) => ({ image: imageAt(pixels, i), label: 7 }));
  const request = { pixelScale: '0-255', examples, steps: 20, learningRate: 0.1 };

  it('should evaluate without saving on a dry run', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const res = await app.request('/fine-tune', post({ ...request, dryRun: true }), e);
    expect(res.status).toBe(200);
    const body = await json<{
      version: null;
      dryRun: boolean;
      parentVersion: string;
      after: { accuracy: number };
    }>(res);
    expect(body.dryRun).toBe(true);
    expect(body.version).toBeNull();
    expect(body.parentVersion).toBe(version);
    expect((await store.readPointer())!.pointer.current).toBe(version);
  });

  it('should save a child that predicts its examples, and serve it', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const res = await app.request('/fine-tune', post(request), e);
    expect(res.status).toBe(200);
    const body = await json<{
      version: string;
      parentVersion: string;
      before: { loss: number; accuracy: number };
      after: { loss: number; accuracy: number };
      guard: { size: number; parent: { accuracy: number } };
    }>(res);
    expect(body.parentVersion).toBe(version);
    expect(body.version).not.toBe(version);
    expect(body.after.loss).toBeLessThan(body.before.loss);
    expect(body.after.accuracy).toBe(1);
    expect(body.before.accuracy).toBeLessThan(1);
    expect(body.guard.size).toBe(64);
    expect(body.guard.parent.accuracy).toBe(1);
    const read = await store.readPointer();
    expect(read!.pointer.current).toBe(body.version);
    expect(read!.pointer.history[0]).toMatchObject({
      version: body.version,
      parent: version,
      source: 'fine-tune',
    });

    const predicted = await json<PredictJson>(
      await app.request(
        '/predict',
        post({ pixelScale: '0-255', images: examples.map((x) => x.image) }, null),
        e,
      ),
    );
    expect(predicted.modelVersion).toBe(body.version);
    expect(predicted.predictions.every((p) => p.digit === 7)).toBe(true);

    const info = await json<{ version: string; parentVersion: string; history: { version: string }[] }>(
      await app.request('/model', {}, e),
    );
    expect(info.version).toBe(body.version);
    expect(info.parentVersion).toBe(version);
    expect(info.history.map((h) => h.version)).toEqual([body.version, version]);
  });

  it('should keep the int8 encoding of an int8 parent', async () => {
    const e = testEnv(base, NO_GUARD);
    await seed(e, 5, 'int8');
    const res = await app.request('/fine-tune', post({ ...request, steps: 5 }), e);
    expect(res.status).toBe(200);
    const info = await json<{ encoding: string }>(await app.request('/model', {}, e));
    expect(info.encoding).toBe('int8');
  });

  it('should refuse a harmful fine-tune with 422 and the figures, saving nothing', async () => {
    const e = testEnv(base, { ...NO_GUARD, GUARD_MAX_ACCURACY_DROP: '0.05' });
    const { store, version } = await seed(e);
    const listBefore = await e.MODELS.list({ prefix: e.MODEL_PREFIX });
    const res = await app.request('/fine-tune', post({ ...request, steps: 40, learningRate: 0.5 }), e);
    expect(res.status).toBe(422);
    const err = await json<ErrorJson>(res);
    expect(err.error.code).toBe('guard_refused');
    const details = err.error.details as {
      guard: { parent: { accuracy: number }; child: { accuracy: number }; passed: boolean };
    };
    expect(details.guard.passed).toBe(false);
    expect(details.guard.parent.accuracy - details.guard.child.accuracy).toBeGreaterThan(0.05);
    expect((await store.readPointer())!.pointer.current).toBe(version);
    const listAfter = await e.MODELS.list({ prefix: e.MODEL_PREFIX });
    expect(listAfter.objects.map((o) => o.key)).toEqual(listBefore.objects.map((o) => o.key));
  });

  it('should account for two concurrent fine-tunes in the history', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const small = { ...request, steps: 2 };
    const [a, b] = await Promise.all([
      app.request('/fine-tune', post(small), e),
      app.request('/fine-tune', post({ ...small, learningRate: 0.05 }), e),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const ra = await json<{ version: string; parentVersion: string; attempts: number }>(a);
    const rb = await json<{ version: string; parentVersion: string; attempts: number }>(b);
    // The model writer ran them one after the other: neither lost a race, neither was retrained.
    expect([ra.attempts, rb.attempts]).toEqual([1, 1]);
    const { pointer } = (await store.readPointer())!;
    const [latest, earlier] = pointer.history;
    expect(new Set([latest.version, earlier.version])).toEqual(new Set([ra.version, rb.version]));
    // The later one was trained on the earlier one's weights: no update was lost.
    expect(latest.parent).toBe(earlier.version);
    expect(earlier.parent).toBe(version);
    expect(pointer.history[2].version).toBe(version);
    const versions = await e.MODELS.list({ prefix: `${e.MODEL_PREFIX}versions/` });
    expect(versions.objects).toHaveLength(3);
  });
});

describe('POST /model/rollback', () => {
  it('should make an earlier version current and serve it', async () => {
    const e = testEnv(base, NO_GUARD);
    const { version } = await seed(e);
    const ft = await json<{ version: string }>(
      await app.request(
        '/fine-tune',
        post({
          pixelScale: '0-255',
          examples: [{ image: imageAt(randomPixels(1, 1), 0), label: 2 }],
          steps: 2,
        }),
        e,
      ),
    );
    const res = await app.request('/model/rollback', post({ version }), e);
    expect(res.status).toBe(200);
    const body = await json<{ version: string; previousVersion: string; history: { source: string }[] }>(res);
    expect(body).toMatchObject({ version, previousVersion: ft.version });
    expect(body.history.map((h) => h.source)).toEqual(['rollback', 'fine-tune', 'publish']);
    const health = await json<{ modelVersion: string }>(await app.request('/health', {}, e));
    expect(health.modelVersion).toBe(version);
  });

  it('should answer 404 for an unknown version', async () => {
    const e = testEnv(base);
    await seed(e);
    const res = await app.request('/model/rollback', post({ version: '20990101T000000000Z-000000' }), e);
    expect(res.status).toBe(404);
    expect((await json<ErrorJson>(res)).error.code).toBe('version_not_found');
  });

  it('should refuse to roll back to a corrupt version', async () => {
    const e = testEnv(base);
    const { store } = await seed(e);
    const bad = await store.putVersion(new Uint8Array([1, 2, 3]));
    const res = await app.request('/model/rollback', post({ version: bad }), e);
    expect(res.status).toBe(422);
    expect((await json<ErrorJson>(res)).error.code).toBe('version_unusable');
  });
});

describe('a missing, truncated or corrupt blob', () => {
  async function breakCurrent(e: Bindings, bytes: Uint8Array | null) {
    const store = new ModelStore(e.MODELS, e.MODEL_PREFIX!);
    const version = bytes ? await store.putVersion(bytes) : '20990101T000000000Z-abcdef';
    await store.makeCurrent(version, 'publish');
    return version;
  }

  for (const [what, make, code] of [
    ['truncated', (blob: Uint8Array) => blob.slice(0, blob.length - 100), 'model_corrupt'],
    [
      'bit-flipped',
      (blob: Uint8Array) => blob.map((b, i) => (i === blob.length - 50 ? b ^ 1 : b)),
      'model_corrupt',
    ],
    ['missing', () => null, 'model_missing'],
  ] as const) {
    it(`should answer 503 ${code} for a ${what} blob with nothing loaded`, async () => {
      const e = testEnv(base);
      const { blob } = await seed(e);
      await breakCurrent(e, make(blob));
      const res = await app.request(
        '/predict',
        post({ pixelScale: '0-255', image: new Array(784).fill(0) }),
        e,
      );
      expect(res.status).toBe(503);
      const err = await json<ErrorJson>(res);
      expect(err.error.code).toBe(code);
      expect(err.error.message).toMatch(/corrupt|not in the store/);
    });

    it(`should keep serving the last good model when the new one is ${what}`, async () => {
      const e = testEnv(base);
      const { blob, version } = await seed(e);
      const image = { pixelScale: '0-255', image: new Array(784).fill(0) };
      expect((await app.request('/predict', post(image), e)).status).toBe(200);
      await breakCurrent(e, make(blob));
      const res = await app.request('/predict', post(image), e);
      expect(res.status).toBe(200);
      expect(res.headers.get('X-Model-Version')).toBe(version);
      expect(res.headers.get('X-Model-Stale')).toBe(code);
      const health = await json<{ status: string; modelVersion: string }>(
        await app.request('/health', {}, e),
      );
      expect(health).toMatchObject({ status: 'degraded', modelVersion: version });
    });
  }
});

describe('model revalidation', () => {
  it('should serve a newly published version after the interval and not before', async () => {
    const image = { pixelScale: '0-255', image: new Array(784).fill(0) };
    const slow = testEnv(base, { MODEL_REVALIDATE_SECONDS: '3600' });
    const first = await seed(slow, 1);
    expect((await json<PredictJson>(await app.request('/predict', post(image), slow))).modelVersion).toBe(
      first.version,
    );
    const { version: second } = await first.store.publish((await import('./helpers.ts')).makeModel(2).blob);
    expect((await json<PredictJson>(await app.request('/predict', post(image), slow))).modelVersion).toBe(
      first.version,
    );
    const eager = { ...slow, MODEL_REVALIDATE_SECONDS: '0' };
    expect((await json<PredictJson>(await app.request('/predict', post(image), eager))).modelVersion).toBe(
      second,
    );
  });
});

describe('GET /model, /openapi.json, /docs', () => {
  it('should describe the serving model', async () => {
    const e = testEnv(base);
    const { version } = await seed(e);
    const res = await app.request('/model', {}, e);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      version,
      sizes: [784, 32, 10],
      alpha: 0.01, // stored as float32 0.009999999776…, reported as the decimal it was written from
      encoding: 'f32',
      parameters: 784 * 32 + 32 + 32 * 10 + 10,
      accuracy: { test: 0.5, validation: null },
      checkSet: 'checksets/test-64.bin',
      parentVersion: null,
      history: [{ version, parent: null, source: 'publish' }],
      stale: null,
    });
  });

  it('should publish an OpenAPI document generated from the schemas, and a docs page', async () => {
    const res = await app.request('/openapi.json', {}, testEnv(base));
    expect(res.status).toBe(200);
    const spec = await json<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    }>(res);
    expect(spec.openapi).toBe('3.1.0');
    expect(Object.keys(spec.paths).sort()).toEqual([
      '/feedback',
      '/feedback/apply',
      '/feedback/drop',
      '/fine-tune',
      '/health',
      '/model',
      '/model/rollback',
      '/predict',
    ]);
    expect(Object.keys(spec.components.schemas)).toEqual(
      expect.arrayContaining(['PredictRequest', 'FineTuneRequest', 'Error', 'ImagePrediction']),
    );
    // The statuses the write routes answer (each seen from outside by a review), listed in the document.
    const statuses = (path: string, method: string) =>
      Object.keys((spec.paths[path][method] as { responses: Record<string, unknown> }).responses);
    expect(statuses('/model/rollback', 'post')).toEqual(expect.arrayContaining(['409', '413', '415', '429']));
    expect(statuses('/feedback', 'get')).toContain('429');
    expect(statuses('/feedback/drop', 'post')).toEqual(expect.arrayContaining(['413', '415', '429']));
    expect(statuses('/feedback/apply', 'post')).toEqual(expect.arrayContaining(['409', '413', '415', '429']));
    // One /predict route for JSON pixels, a PNG body and a form with a PNG file.
    const predict = spec.paths['/predict'].post as { requestBody: { content: Record<string, unknown> } };
    expect(Object.keys(predict.requestBody.content).sort()).toEqual([
      'application/json',
      'image/png',
      'multipart/form-data',
    ]);
    // POST /feedback takes the same three kinds of body (uploads are read before the route's JSON validator).
    const feedback = spec.paths['/feedback'].post as { requestBody: { content: Record<string, unknown> } };
    expect(Object.keys(feedback.requestBody.content).sort()).toEqual([
      'application/json',
      'image/png',
      'multipart/form-data',
    ]);
    const docs = await app.request('/docs', {}, testEnv(base));
    expect(docs.headers.get('Content-Type')).toContain('text/html');
    expect(await docs.text()).toContain('/openapi.json');
  });
});
