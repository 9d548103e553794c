/**
 * `POST /predict?version=`: concurrent requests for one version share its download and decoding, and at most
 * `MAX_PINNED_LOADS` versions load at once per isolate (one more is a 503 `busy`). A review measured +110 MB for
 * 150 concurrent requests over 12 versions when each request loaded its own copy.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { MAX_PINNED_LOADS } from '../../src/worker/pinned.ts';
import { makeModel, post, seed, testEnv, type ErrorJson } from './helpers.ts';

/**
 * The env's bucket, counting the reads of version blobs and holding each for `delayMs` (a slow R2), and each
 * lookup (`head`) of a version for `headDelayMs`.
 */
function countingEnv(base: Bindings, delayMs: number, headDelayMs = 0) {
  const reads = new Map<string, number>();
  const real = base.MODELS;
  const MODELS = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === 'head' && headDelayMs > 0) {
        return async (key: string) => {
          await new Promise((r) => setTimeout(r, headDelayMs));
          return target.head(key);
        };
      }
      if (prop !== 'get') return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      return async (key: string, options?: R2GetOptions) => {
        if (/\/versions\/[^/]+\.bin$/.test(key)) {
          reads.set(key, (reads.get(key) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, delayMs));
        }
        return target.get(key, options);
      };
    },
  });
  return { env: { ...base, MODELS } as Bindings, reads };
}

const image = () => ({ image: new Array(784).fill(0).fill(255, 300, 340) });

describe('pinned versions under concurrency', () => {
  it('should read and decode a version once for many concurrent requests', async () => {
    const base = testEnv(env as unknown as Bindings);
    const { store, version: a } = await seed(base, 1);
    const { version: b } = await store.publish(makeModel(2).blob);
    const { env: e, reads } = countingEnv(base, 50);
    const asks = [a, b].flatMap((v) => Array.from({ length: 10 }, () => v));
    const answers = await Promise.all(
      asks.map((v) => app.request(`/predict?version=${v}`, post(image(), null), e)),
    );
    expect(answers.map((r) => r.status)).toEqual(asks.map(() => 200));
    const versions = await Promise.all(
      answers.map(async (r) => (await r.json()) as { modelVersion: string }),
    );
    expect(versions.map((v) => v.modelVersion)).toEqual(asks);
    for (const v of [a, b]) expect(reads.get(`${base.MODEL_PREFIX}versions/${v}.bin`)).toBe(1);
  });

  it(`should load at most ${MAX_PINNED_LOADS} versions at once and answer 503 busy to another`, async () => {
    const base = testEnv(env as unknown as Bindings);
    const { store, version: first } = await seed(base, 3);
    const versions = [first];
    for (let s = 4; versions.length < MAX_PINNED_LOADS + 1; s++)
      versions.push((await store.publish(makeModel(s).blob)).version);
    const { env: e } = countingEnv(base, 300);
    const answers = await Promise.all(
      versions.map((v) => app.request(`/predict?version=${v}`, post(image(), null), e)),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(MAX_PINNED_LOADS).fill(200), 503]);
    const busy = answers.find((r) => r.status === 503)!;
    expect(busy.headers.get('Retry-After')).toBe('1');
    expect(((await busy.json()) as ErrorJson).error.code).toBe('busy');
    // Once those are loaded, the refused one is served.
    const refused = versions[answers.indexOf(busy)];
    expect((await app.request(`/predict?version=${refused}`, post(image(), null), e)).status).toBe(200);
  });

  it('should answer versions that do not exist 404 without taking the places stored versions need', async () => {
    // A review found that requests for unknown versions held the loading places during their R2 lookup, so a
    // flood of them made requests for real versions answer 503 busy.
    const base = testEnv(env as unknown as Bindings);
    const { store, version: a } = await seed(base, 5);
    const { version: b } = await store.publish(makeModel(6).blob);
    const { env: e } = countingEnv(base, 100, 100);
    const unknown = Array.from({ length: 3 * MAX_PINNED_LOADS }, (_, i) => `20260101-no-such-${i}`);
    const answers = await Promise.all(
      [...unknown, a, b].map((v) => app.request(`/predict?version=${v}`, post(image(), null), e)),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses).toEqual([...unknown.map(() => 404), 200, 200]);
    const codes = await Promise.all(
      answers.slice(0, unknown.length).map(async (r) => ((await r.json()) as ErrorJson).error.code),
    );
    expect(codes).toEqual(unknown.map(() => 'version_not_found'));
  });
});
