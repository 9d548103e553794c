/**
 * Many fine-tunes at once against one model (each from its own client address, so the rate limit is not what
 * stops them). Afterwards the history holds exactly one new version per accepted fine-tune, chained parent to
 * child, each stored blob trained on the parent the history names, and no blob of a lost race is left behind.
 */
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/format/index.ts';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import type { ModelStore } from '../../src/worker/model-store.ts';
import { imageAt, post, randomPixels, seed, testEnv, type ErrorJson, NO_GUARD } from './helpers.ts';

const base = env as unknown as Bindings;
const CONCURRENT = 24;

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

describe(`${CONCURRENT} concurrent fine-tunes of one model`, () => {
  it('should add exactly one chained version per accepted fine-tune and answer the rest 409', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const responses = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => app.request('/fine-tune', request(i), e)),
    );
    const accepted: Accepted[] = [];
    for (const res of responses) {
      expect([200, 409]).toContain(res.status);
      if (res.status === 200) accepted.push((await res.json()) as Accepted);
      else expect(((await res.json()) as ErrorJson).error.code).toBe('conflict');
    }
    expect(accepted.length).toBeGreaterThan(0);
    await expectOneVersionPerAccepted(e, store, version, accepted);
    console.info(
      `concurrency: ${accepted.length}/${CONCURRENT} accepted at once, attempts ${accepted.map((a) => a.attempts).join(',')}`,
    );
  });

  it('should accept every one of them when clients retry on 409, and serve predictions throughout', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    let conflicts = 0;
    const client = async (i: number): Promise<Accepted> => {
      for (let attempt = 0; attempt < 40; attempt++) {
        const res = await app.request('/fine-tune', request(i), e);
        if (res.status === 200) return (await res.json()) as Accepted;
        expect(res.status).toBe(409);
        conflicts++;
        await new Promise((r) => setTimeout(r, 1 + ((i * 7 + attempt * 13) % 10)));
      }
      throw new Error(`client ${i} never got through`);
    };
    const predictions = Array.from({ length: 40 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i));
      const res = await app.request(
        '/predict',
        post({ pixelScale: '0-255', image: imageAt(pixels, i % CONCURRENT) }),
        e,
      );
      return res.status;
    });
    const [accepted, predictStatuses] = await Promise.all([
      Promise.all(Array.from({ length: CONCURRENT }, (_, i) => client(i))),
      Promise.all(predictions),
    ]);
    expect(predictStatuses).toEqual(new Array(40).fill(200));
    expect(accepted).toHaveLength(CONCURRENT);
    await expectOneVersionPerAccepted(e, store, version, accepted);
    console.info(`concurrency: ${CONCURRENT}/${CONCURRENT} accepted with retries after ${conflicts} 409s`);
  });
});
