/**
 * Models whose recipe deskewed (`metadata.training.deskew`) are served images prepared the same way, on every
 * path: JSON left to the model's default or with `preprocess: true`, uploads (whose preview shows the input the
 * model saw), while a model trained without deskewing keeps the plain preparation.
 */
import { env } from 'cloudflare:workers';
import { encode as encodePng } from 'fast-png';
import { beforeEach, describe, expect, it } from 'vitest';
import { fromPixels, preprocess } from '../../src/data/preprocess.ts';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { post, publishTrained, testEnv } from './helpers.ts';

const base = env as unknown as Bindings;
beforeEach(() => resetModelCache());

/** A "1" written with a strong slant (about 0.5 px to the right per row up), 0-255. */
const slanted = Array.from({ length: 784 }, (_, i) => {
  const [y, x] = [Math.floor(i / 28), i % 28];
  const at = 16 - 0.5 * (y - 4);
  return y >= 4 && y < 24 && x >= at && x < at + 3 ? 255 : 0;
});

const recipes = {
  deskewed: { preprocess: true, deskew: true },
  plain: { preprocess: true },
} as const;

async function envFor(recipe: keyof typeof recipes): Promise<Bindings> {
  resetModelCache();
  const e = testEnv(base, { MODEL_PREFIX: `deskew-${recipe}/` });
  // The same weights under both recipes: only the preparation differs.
  await publishTrained(e, recipes[recipe]);
  return e;
}

async function probabilities(e: Bindings, body: Record<string, unknown>): Promise<number[]> {
  const res = await app.request('/predict', post({ pixelScale: '0-255', image: slanted, ...body }, null), e);
  expect(res.status).toBe(200);
  return ((await res.json()) as { probabilities: number[] }).probabilities;
}

/** An upload's preview: the input the model saw, and how it says that input was prepared. */
async function uploadPreview(e: Bindings, query = ''): Promise<{ input: number[]; prepared: string }> {
  const png = encodePng({ width: 28, height: 28, data: Uint8Array.from(slanted), channels: 1, depth: 8 });
  const res = await app.request(
    `/predict?preview=1${query}`,
    { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png },
    e,
  );
  expect(res.status).toBe(200);
  return (await res.json()) as { input: number[]; prepared: string };
}

const uploadInput = async (e: Bindings) => (await uploadPreview(e)).input;

const expected = (deskew: boolean) =>
  Array.from(preprocess(fromPixels(slanted.map((v) => v / 255)), { deskew }), (v) => Math.round(v * 255));

describe('serving a model trained on deskewed images', () => {
  it('should deskew JSON images left to the default and with preprocess: true, as its recipe did', async () => {
    const deskewed = await envFor('deskewed');
    const left = await probabilities(deskewed, {});
    expect(left).toEqual(await probabilities(deskewed, { preprocess: true }));
    expect(left).not.toEqual(await probabilities(deskewed, { preprocess: false }));
    const plain = await envFor('plain');
    // Same weights, other preparation: a different input, so different probabilities.
    expect(await probabilities(plain, {})).not.toEqual(left);
  });

  it('should show, and use, the deskewed preparation of an upload; the plain one for a plain model', async () => {
    expect(expected(true)).not.toEqual(expected(false));
    expect(await uploadInput(await envFor('deskewed'))).toEqual(expected(true));
    expect(await uploadInput(await envFor('plain'))).toEqual(expected(false));
  });

  it('should say in the preview how the input was prepared, for a correction to pass on', async () => {
    expect((await uploadPreview(await envFor('deskewed'))).prepared).toBe('deskew');
    expect((await uploadPreview(await envFor('plain'))).prepared).toBe('plain');
    expect((await uploadPreview(await envFor('deskewed'), '&preprocess=false')).prepared).toBe('none');
  });
});
