/**
 * Many fine-tunes at once against one model (each from its own client address, so the rate limit is not what
 * stops them). They go through the lineage's model writer, which runs them one at a time: every one is accepted
 * at its first attempt (no 409, none retrained), and the history holds exactly one new version per fine-tune,
 * chained parent to child, each stored blob trained on the parent the history names, no stray blob left behind.
 */
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/format/index.ts';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import type { ModelStore } from '../../src/worker/model-store.ts';
import { writerOf } from '../../src/worker/writer/settings.ts';
import { imageAt, post, randomPixels, seed, testEnv, NO_GUARD } from './helpers.ts';

const base = env as unknown as Bindings;
const CONCURRENT = 30;

interface Accepted {
  version: string;
  parentVersion: string;
  attempts: number;
}

const pixels = randomPixels(CONCURRENT, 77);
/** Client i teaches one image a label of its own, so every child differs. */
const request = (i: number) =>
  post(
    { pixelScale: '0-255', examples: [{ image: imageAt(pixels, i), label: i % 10 }], steps: 2 },
    undefined,
    {
      'CF-Connecting-IP': `10.0.${i >> 8}.${i & 255}`,
    },
  );

/**
 * Checks the store after the run: the `accepted` versions, and only they, were added on top of `seeded`, as one
 * chain in the history, each blob's own metadata naming the parent the history gives it.
 */
async function expectOneVersionPerAccepted(
  e: Bindings,
  store: ModelStore,
  seeded: string,
  accepted: Accepted[],
) {
  const { pointer } = (await store.readPointer())!;
  const added = pointer.history.slice(0, accepted.length);
  expect(pointer.history[accepted.length].version).toBe(seeded);
  expect(pointer.history).toHaveLength(accepted.length + 1);
  expect(new Set(added.map((h) => h.version))).toEqual(new Set(accepted.map((a) => a.version)));
  expect(new Set(accepted.map((a) => a.version)).size).toBe(accepted.length);
  expect(pointer.current).toBe(added[0]?.version ?? seeded);
  for (let i = 0; i < added.length; i++) {
    const entry = added[i];
    expect(entry.source).toBe('fine-tune');
    // A chain: each accepted fine-tune trained on the version current just before it.
    expect(entry.parent).toBe(pointer.history[i + 1].version);
    expect(accepted.find((a) => a.version === entry.version)!.parentVersion).toBe(entry.parent);
    const blob = await store.getVersion(entry.version);
    expect(blob, `blob of ${entry.version}`).not.toBeNull();
    expect(decodeModel(blob!).metadata.parentVersion).toBe(entry.parent);
  }
  const stored = await e.MODELS.list({ prefix: `${e.MODEL_PREFIX}versions/` });
  expect(stored.objects.map((o) => o.key).sort()).toEqual(
    [seeded, ...accepted.map((a) => a.version)].map((v) => store.versionKey(v)).sort(),
  );
}

beforeEach(() => resetModelCache());

describe(`${CONCURRENT} concurrent fine-tunes of one model, through the model writer`, () => {
  it('should accept every one at its first attempt, as one chain, with no 409, predictions answered throughout', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const fineTunes = Array.from({ length: CONCURRENT }, (_, i) => app.request('/fine-tune', request(i), e));
    const predictions = Array.from({ length: 40 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i));
      const res = await app.request(
        '/predict',
        post({ pixelScale: '0-255', image: imageAt(pixels, i % CONCURRENT) }),
        e,
      );
      return res.status;
    });
    const responses = await Promise.all(fineTunes);
    expect(responses.map((r) => r.status)).toEqual(new Array(CONCURRENT).fill(200));
    const accepted = (await Promise.all(responses.map((r) => r.json()))) as Accepted[];
    expect(accepted.map((a) => a.attempts)).toEqual(new Array(CONCURRENT).fill(1));
    expect(await Promise.all(predictions)).toEqual(new Array(40).fill(200));
    await expectOneVersionPerAccepted(e, store, version, accepted);
    expect(await writerOf(e, e.MODEL_PREFIX!).queueLength()).toBe(0);
  });
});
