/**
 * Fine-tunes through the model writer: 30 at once against one lineage, from 30 clients, are all accepted, none
 * retried, as one chain of 30 versions; predictions are answered throughout; the writer's queue empties.
 */
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { writerOf } from '../../src/worker/writer/settings.ts';
import { imageAt, NO_GUARD, post, randomPixels, seed, testEnv } from '../worker/helpers.ts';

const base = env as unknown as Bindings;
const N = 30;
const pixels = randomPixels(N, 91);

beforeEach(() => resetModelCache());

describe(`${N} concurrent fine-tunes through the model writer`, () => {
  it('should accept all of them at the first attempt, as one chain, with no 409', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const fineTunes = Array.from({ length: N }, (_, i) =>
      app.request(
        '/fine-tune',
        post(
          { pixelScale: '0-255', examples: [{ image: imageAt(pixels, i), label: i % 10 }], steps: 2 },
          undefined,
          {
            'CF-Connecting-IP': `10.9.0.${i}`,
          },
        ),
        e,
      ),
    );
    const predictions = Array.from({ length: 20 }, async (_, i) => {
      const res = await app.request('/predict', post({ pixelScale: '0-255', image: imageAt(pixels, i) }), e);
      return res.status;
    });
    const responses = await Promise.all(fineTunes);
    expect(responses.map((r) => r.status)).toEqual(new Array(N).fill(200));
    const answers = (await Promise.all(responses.map((r) => r.json()))) as {
      version: string;
      parentVersion: string;
      attempts: number;
    }[];
    expect(answers.map((a) => a.attempts)).toEqual(new Array(N).fill(1));
    expect(await Promise.all(predictions)).toEqual(new Array(20).fill(200));

    const { pointer } = (await store.readPointer())!;
    expect(pointer.history).toHaveLength(N + 1);
    expect(pointer.history[N].version).toBe(version);
    for (let i = 0; i < N; i++) {
      expect(pointer.history[i].source).toBe('fine-tune');
      expect(pointer.history[i].parent).toBe(pointer.history[i + 1].version);
    }
    expect(new Set(answers.map((a) => a.version))).toEqual(
      new Set(pointer.history.slice(0, N).map((h) => h.version)),
    );
    const stored = await e.MODELS.list({ prefix: `${e.MODEL_PREFIX}versions/` });
    expect(stored.objects).toHaveLength(N + 1);
    expect(await writerOf(e, e.MODEL_PREFIX!).queueLength()).toBe(0);
  });

  it('should serialise a rollback with fine-tunes and refuse an unknown version with 404', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const ft = (i: number) =>
      app.request(
        '/fine-tune',
        post(
          { pixelScale: '0-255', examples: [{ image: imageAt(pixels, i), label: 3 }], steps: 1 },
          undefined,
          {
            'CF-Connecting-IP': `10.9.1.${i}`,
          },
        ),
        e,
      );
    const [a, back, b] = await Promise.all([
      ft(0),
      app.request('/model/rollback', post({ version }), e),
      ft(1),
    ]);
    expect([a.status, back.status, b.status]).toEqual([200, 200, 200]);
    const { pointer } = (await store.readPointer())!;
    expect(pointer.history.map((h) => h.source)).toEqual(['fine-tune', 'rollback', 'fine-tune', 'publish']);
    expect(pointer.history[0].parent).toBe(version);
    expect((await app.request('/model/rollback', post({ version: 'nope-1' }), e)).status).toBe(404);
  });
});
