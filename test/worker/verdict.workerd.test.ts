/**
 * `/predict`'s verdict through the real app: blank input named blank (JSON and uploads), the per-request
 * threshold and its 400s, calibrated probabilities from the model's temperature, malformed bodies still refused.
 */
import { env } from 'cloudflare:workers';
import { encode as encodePng } from 'fast-png';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../../src/format/index.ts';
import app from '../../src/worker/app.ts';
import type { Bindings } from '../../src/worker/config.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { ModelStore } from '../../src/worker/model-store.ts';
import { imageAt, inkedPixels, post, seed, testEnv, type ErrorJson } from './helpers.ts';

const base = env as unknown as Bindings;
beforeEach(() => resetModelCache());

interface Answer {
  verdict: string;
  digit: number | null;
  confidence: number | null;
  probabilities: number[] | null;
}

const image = imageAt(inkedPixels(1, 7), 0);
const predict = (e: Bindings, body: unknown) => app.request('/predict', post(body, null), e);

describe('/predict verdicts', () => {
  it('should give every answer a verdict, and name blank images blank without guessing', async () => {
    const e = testEnv(base);
    await seed(e);
    const res = await predict(e, { images: [image, new Array(784).fill(0), new Array(784).fill(255)] });
    expect(res.status).toBe(200);
    const { predictions } = (await res.json()) as { predictions: Answer[] };
    expect(['confident', 'uncertain', 'not_a_digit']).toContain(predictions[0].verdict);
    expect(predictions[0].probabilities).toHaveLength(10);
    for (const blank of predictions.slice(1)) {
      expect(blank).toEqual({ verdict: 'blank', digit: null, confidence: null, probabilities: null });
    }
    // With preprocessing too: an empty image is blank, no longer a 422.
    const pre = await predict(e, { image: new Array(784).fill(0), preprocess: true });
    expect(pre.status).toBe(200);
    expect(((await pre.json()) as Answer).verdict).toBe('blank');
  });

  it('should name an empty uploaded canvas blank', async () => {
    const e = testEnv(base);
    await seed(e);
    const png = encodePng({
      width: 40,
      height: 40,
      data: new Uint8Array(1600).fill(255),
      channels: 1,
      depth: 8,
    });
    const res = await app.request(
      '/predict',
      { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png },
      e,
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as Answer).verdict).toBe('blank');
  });

  it('should follow minConfidence from the body, the query and the deployment', async () => {
    const e = testEnv(base);
    await seed(e);
    const at = async (body: object, env: Bindings = e) => (await (await predict(env, body)).json()) as Answer;
    const answer = await at({ image, pixelScale: '0-255' });
    const confidence = answer.confidence!;
    // Just above and at the answer's own confidence (the margin rule aside, which a random net may trip).
    expect(
      (await at({ image, pixelScale: '0-255', minConfidence: Math.min(1, confidence + 1e-6) })).verdict,
    ).not.toBe('confident');
    const strict = testEnv(base, { MIN_CONFIDENCE: String(Math.min(1, confidence + 1e-6)) });
    expect((await at({ image, pixelScale: '0-255' }, strict)).verdict).not.toBe('confident');
  });

  it('should answer a threshold outside (0, 1] with 400, and keep malformed bodies 4xx', async () => {
    const e = testEnv(base);
    await seed(e);
    for (const minConfidence of [0, -0.5, 1.01, '0.5', null]) {
      const res = await predict(e, { image, minConfidence });
      expect(res.status, String(minConfidence)).toBe(400);
      expect(((await res.json()) as ErrorJson).error.code).toBe('validation_error');
    }
    for (const q of ['0', '2', 'abc', '']) {
      const res = await app.request(
        `/predict?minConfidence=${q}`,
        { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: new Uint8Array([1, 2, 3]) },
        e,
      );
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as ErrorJson).error.code).toBe('bad_threshold');
    }
    // A blank image in a malformed body is still refused, not answered blank.
    const bad = await predict(e, { image: new Array(783).fill(0), minConfidence: 0.5 });
    expect(bad.status).toBe(400);
    expect((await predict(e, { images: [], minConfidence: 0.5 })).status).toBe(400);
  });

  it('should serve softmax(logits / T) for a model calibrated at temperature T', async () => {
    const e = testEnv(base);
    const { net, blob } = await seed(e);
    const model = decodeModel(blob);
    const store = new ModelStore(e.MODELS, e.MODEL_PREFIX!);
    await store.publish(
      encodeModel({
        ...model,
        metadata: { ...model.metadata, calibration: { method: 'temperature', temperature: 2 } },
      }),
    );
    resetModelCache();
    const answer = (await (await predict(e, { image, pixelScale: '0-255' })).json()) as Answer;
    const raw = net.predict(
      Float32Array.from(image, (v) => v / 255),
      1,
    );
    const tempered = Array.from(raw, (p) => Math.sqrt(p));
    const sum = tempered.reduce((a, b) => a + b, 0);
    answer.probabilities!.forEach((p, j) => expect(p).toBeCloseTo(tempered[j] / sum, 5));
  });
});
