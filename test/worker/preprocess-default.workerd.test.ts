/**
 * JSON `/predict` without `preprocess`: prepared when the answering model was trained on prepared images
 * (`metadata.training.preprocess`, the default recipe), left as sent otherwise; an explicit field always wins.
 */
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { post, publishTrained, testEnv } from './helpers.ts';

const base = env as unknown as Bindings;
beforeEach(() => resetModelCache());

/** A small off-centre "1": a bar in the top-left corner, which preprocessing moves to the centre. */
const offCentre = Array.from({ length: 784 }, (_, i) => {
  const [y, x] = [Math.floor(i / 28), i % 28];
  return y >= 1 && y < 12 && x >= 2 && x < 4 ? 255 : 0;
});

async function probabilities(e: Bindings, body: Record<string, unknown>): Promise<number[]> {
  const res = await app.request(
    '/predict',
    post({ pixelScale: '0-255', image: offCentre, ...body }, null),
    e,
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { probabilities: number[] }).probabilities;
}

describe('POST /predict (JSON) without preprocess', () => {
  it('should prepare the images when the model was trained on prepared ones', async () => {
    const e = testEnv(base, { MODEL_PREFIX: 'prep-on/' });
    await publishTrained(e, { preprocess: true });
    const left = await probabilities(e, {});
    expect(left).toEqual(await probabilities(e, { preprocess: true }));
    expect(left).not.toEqual(await probabilities(e, { preprocess: false }));
  });

  it('should leave them as sent for a model trained on raw images, or one that does not say', async () => {
    for (const [prefix, training] of [
      ['prep-off/', { preprocess: false }],
      ['prep-none/', null],
    ] as const) {
      resetModelCache();
      const e = testEnv(base, { MODEL_PREFIX: prefix });
      await publishTrained(e, training);
      const left = await probabilities(e, {});
      expect(left).toEqual(await probabilities(e, { preprocess: false }));
      expect(left).not.toEqual(await probabilities(e, { preprocess: true }));
    }
  });
});
