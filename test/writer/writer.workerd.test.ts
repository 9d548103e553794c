/**
 * Writes through the model writer besides concurrent fine-tunes (`test/worker/concurrency.workerd.test.ts`): a
 * rollback queued between fine-tunes, and the scheduled apply of pending feedback (the worker's `scheduled`
 * handler, as a cron trigger calls it), which does nothing unless turned on and enough is pending; the pointer's
 * compare-and-swap against a writer outside it (the publish script); and `/predict`, which never calls it.
 */
import { createScheduledController, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../../src/format/index.ts';
import type { Bindings } from '../../src/worker/config.ts';
import worker from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { readConfig } from '../../src/worker/config.ts';
import { fineTuneLineage, LINEAGE_ATTEMPTS } from '../../src/worker/lineage-workflow.ts';
import { ModelStore } from '../../src/worker/model-store.ts';
import type { ModelWriter } from '../../src/worker/writer/model-writer.ts';
import { writerOf } from '../../src/worker/writer/settings.ts';
import {
  aroundPointerSwap,
  imageAt,
  makeModel,
  NO_GUARD,
  post,
  randomPixels,
  seed,
  testEnv,
  TOKEN,
  type ErrorJson,
} from '../worker/helpers.ts';

const base = env as unknown as Bindings;
const pixels = randomPixels(8, 91);

beforeEach(() => resetModelCache());

describe('rollback through the model writer', () => {
  it('should serialise a rollback with fine-tunes and refuse an unknown version with 404', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const ft = (i: number) =>
      worker.request(
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
    expect((await ft(0)).status).toBe(200);
    // Queued in whatever order they arrive: each write sees the pointer the one before it left.
    const answers = await Promise.all([
      ft(1),
      worker.request('/model/rollback', post({ version }), e),
      ft(2),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    const { pointer } = (await store.readPointer())!;
    expect(pointer.history).toHaveLength(5);
    expect(pointer.history.slice(3).map((h) => h.source)).toEqual(['fine-tune', 'publish']);
    const latest = pointer.history.slice(0, 3);
    expect(latest.map((h) => h.source).sort()).toEqual(['fine-tune', 'fine-tune', 'rollback']);
    latest.forEach((h, i) => {
      if (h.source === 'rollback') expect(h.version).toBe(version);
      else expect(h.parent).toBe(pointer.history[i + 1].version);
    });
    expect((await worker.request('/model/rollback', post({ version: 'nope-1' }), e)).status).toBe(404);
  });
});

describe('the compare-and-swap safety net', () => {
  it('should retrain on the new weights when a writer outside the model writer moved the pointer', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store } = await seed(e);
    // The publish script, racing: it publishes another model just before the fine-tune swaps the pointer.
    let outside: string | null = null;
    const racing = new Proxy(base.MODELS, {
      get(target, prop) {
        if (prop !== 'put') {
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        }
        return async (key: string, value: unknown, options?: R2PutOptions) => {
          if (outside === null && key === store.pointerKey() && options?.onlyIf) {
            outside = (await store.publish(makeModel(7).blob)).version;
          }
          return target.put(key, value as string, options);
        };
      },
    });
    const answer = await fineTuneLineage(new ModelStore(racing, store.prefix), readConfig(e), {
      x: Float32Array.from(pixels.subarray(0, 784), (v) => v / 255),
      labels: Uint8Array.of(3),
      count: 1,
      ask: { steps: 1 },
      dryRun: false,
    });
    expect(outside).not.toBeNull();
    expect(answer.attempts).toBe(2);
    expect(answer.parentVersion).toBe(outside);
    const { pointer } = (await store.readPointer())!;
    expect(pointer.history.map((h) => h.source)).toEqual(['fine-tune', 'publish', 'publish']);
    expect(pointer.history[0].parent).toBe(outside);
    expect(pointer.history[1].version).toBe(outside);
    // The blob of the lost attempt was deleted: the seed, the outside version and the child remain.
    expect((await e.MODELS.list({ prefix: `${store.prefix}versions/` })).objects).toHaveLength(3);
  });

  it('should refuse, not retrain, when the pointer moved to a model that prepares images otherwise', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    // Examples chosen for the seeded model (trained on raw images), then a deskewing model published outside.
    const decoded = decodeModel(makeModel(8).blob);
    const deskewing = encodeModel({
      ...decoded,
      quantized: undefined,
      metadata: { ...decoded.metadata, training: { preprocess: true, deskew: true } },
    });
    let outside: string | null = null;
    const racing = aroundPointerSwap(base.MODELS, store.pointerKey(), {
      before: async () => {
        if (outside === null) outside = (await store.publish(deskewing)).version;
      },
    });
    const job = {
      x: Float32Array.from(pixels.subarray(0, 784), (v) => v / 255),
      labels: Uint8Array.of(3),
      count: 1,
      ask: { steps: 1 },
      dryRun: false,
      learnsFrom: ['none' as const, 'plain' as const],
    };
    const refused = await fineTuneLineage(new ModelStore(racing, store.prefix), readConfig(e), job).catch(
      (err: unknown) => err,
    );
    expect(outside).not.toBeNull();
    expect(refused).toMatchObject({ status: 409, code: 'conflict' });
    expect(String((refused as Error).message)).toContain('prepares images otherwise');
    const { pointer } = (await store.readPointer())!;
    expect(pointer.current).toBe(outside);
    expect(pointer.history.map((h) => h.version)).toEqual([outside, version]);
  });
});

describe('the compare-and-swap safety net, losing every race', () => {
  const unlimited = { limit: async () => ({ success: true }) };
  const envOf = () => ({ ...testEnv(base, NO_GUARD), FINE_TUNE_LIMITER: unlimited }) as unknown as Bindings;

  async function raceTheWriter(e: Bindings, store: ModelStore): Promise<string[]> {
    const outside: string[] = [];
    await runInDurableObject(writerOf(e, e.MODEL_PREFIX), (writer: ModelWriter) => {
      (writer as unknown as { env: Bindings }).env = {
        ...e,
        // Before each swap a writer outside the model writer (the publish script) publishes, so the swap loses.
        MODELS: aroundPointerSwap(base.MODELS, store.pointerKey(), {
          before: async () => {
            outside.push((await store.publish(makeModel(20 + outside.length).blob)).version);
          },
        }),
      };
    });
    return outside;
  }

  it('should answer /fine-tune 409 conflict after 3 lost races, keeping only the outside versions', async () => {
    const e = envOf();
    const { store, version } = await seed(e);
    const outside = await raceTheWriter(e, store);
    const body = { pixelScale: '0-255', examples: [{ image: imageAt(pixels, 0), label: 3 }], steps: 1 };
    const res = await worker.request('/fine-tune', post(body), e);
    const error = ((await res.json()) as ErrorJson).error;
    expect(res.status, JSON.stringify(error)).toBe(409);
    expect(error.code).toBe('conflict');
    // Each attempt retrained on the weights the outside writer had just published, and lost again.
    expect(outside).toHaveLength(LINEAGE_ATTEMPTS);
    const { pointer } = (await store.readPointer())!;
    expect(pointer.current).toBe(outside[outside.length - 1]);
    expect(pointer.history.map((h) => h.source)).toEqual(['publish', 'publish', 'publish', 'publish']);
    // The three lost children were deleted: the seed and the outside versions remain.
    const listed = await e.MODELS.list({ prefix: `${store.prefix}versions/` });
    expect(listed.objects.map((o) => o.key).sort()).toEqual(
      [version, ...outside].map((v) => store.versionKey(v)).sort(),
    );
  });

  it('should answer /model/rollback 409 conflict when the pointer keeps moving', async () => {
    const e = envOf();
    const { store, version } = await seed(e);
    await store.publish(makeModel(9).blob);
    const outside = await raceTheWriter(e, store);
    const res = await worker.request('/model/rollback', post({ version }), e);
    const error = ((await res.json()) as ErrorJson).error;
    expect(res.status, JSON.stringify(error)).toBe(409);
    expect(error.code).toBe('conflict');
    expect(outside.length).toBeGreaterThanOrEqual(3);
    expect((await store.readPointer())!.pointer.current).toBe(outside[outside.length - 1]);
  });

  it('should leave no orphan blob when deleting the child of a lost race fails (the next write deletes it)', async () => {
    const e = envOf();
    const { store, version } = await seed(e);
    const outside: string[] = [];
    let failDelete = true;
    // One lost race (an outside publish before the first swap), then R2 fails the lost child's delete once.
    const racing = aroundPointerSwap(base.MODELS, store.pointerKey(), {
      before: async () => {
        if (!outside.length) outside.push((await store.publish(makeModel(30).blob)).version);
      },
    });
    const MODELS = new Proxy(racing, {
      get(target, prop) {
        if (prop !== 'delete') return Reflect.get(target, prop) as unknown;
        return async (keys: string | string[]) => {
          if (failDelete) {
            failDelete = false;
            throw new Error('injected delete failure');
          }
          return base.MODELS.delete(keys);
        };
      },
    });
    await runInDurableObject(writerOf(e, e.MODEL_PREFIX), (writer: ModelWriter) => {
      (writer as unknown as { env: Bindings }).env = { ...e, MODELS };
    });
    const body = { pixelScale: '0-255', examples: [{ image: imageAt(pixels, 0), label: 3 }], steps: 1 };
    expect((await worker.request('/fine-tune', post(body), e)).status).toBe(503);
    // The next write concludes the open intent first: the lost child is deleted.
    expect((await worker.request('/model/rollback', post({ version }), e)).status).toBe(200);
    const listed = await e.MODELS.list({ prefix: `${store.prefix}versions/` });
    expect(listed.objects.map((o) => o.key).sort()).toEqual(
      [version, ...outside].map((v) => store.versionKey(v)).sort(),
    );
  });
});

describe('/predict and the writer', () => {
  it('should answer predictions without ever calling the writer', async () => {
    const e = testEnv(base);
    const { version } = await seed(e);
    const calls: string[] = [];
    const noWriter = {
      idFromName: (name: string) => (calls.push(`idFromName ${name}`), base.MODEL_WRITER.idFromName(name)),
      get: () => {
        calls.push('get');
        throw new Error('the writer was called');
      },
    };
    const env2 = { ...e, MODEL_WRITER: noWriter } as unknown as Bindings;
    for (let i = 0; i < 3; i++) {
      const res = await worker.request(
        '/predict',
        post({ pixelScale: '0-255', image: imageAt(pixels, i) }),
        env2,
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('X-Model-Version')).toBe(version);
    }
    expect((await worker.request('/model', {}, env2)).status).toBe(200);
    expect(calls).toEqual([]);
  });
});

describe('the scheduled apply (cron trigger)', () => {
  const correction = (i: number) => ({
    pixelScale: '0-255',
    image: imageAt(pixels, i),
    label: i % 10,
    modelVersion: 'v1',
  });
  const send = (e: Bindings, i: number) =>
    worker.request('/feedback', post(correction(i), null, { 'CF-Connecting-IP': `10.9.2.${i}` }), e);
  async function tick(e: Bindings) {
    await worker.scheduled(createScheduledController({ cron: '*/15 * * * *' }), e);
  }
  async function applied(e: Bindings) {
    const res = await worker.request(
      '/feedback?status=applied',
      { headers: { Authorization: `Bearer ${TOKEN}` } },
      e,
    );
    return (await res.json()) as {
      items: { id: number; appliedIn: string | null }[];
      counts: { pending: { total: number } };
      applies: { outcome: string; version: string | null }[];
    };
  }

  it('should do nothing by default (FEEDBACK_AUTO_APPLY_MIN 0), however much is pending', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store } = await seed(e);
    for (let i = 0; i < 4; i++) expect((await send(e, i)).status).toBe(201);
    await tick(e);
    expect((await store.readPointer())!.pointer.history).toHaveLength(1);
    expect((await applied(e)).counts.pending.total).toBe(4);
  });

  it('should wait until enough is pending, then apply it all as one version through the lineage guard', async () => {
    const e = testEnv(base, { ...NO_GUARD, FEEDBACK_AUTO_APPLY_MIN: '3' });
    const { store, version } = await seed(e);
    for (let i = 0; i < 2; i++) expect((await send(e, i)).status).toBe(201);
    await tick(e);
    expect((await store.readPointer())!.pointer.history).toHaveLength(1);

    expect((await send(e, 2)).status).toBe(201);
    await tick(e);
    const { pointer } = (await store.readPointer())!;
    expect(pointer.history.map((h) => [h.source, h.parent])).toEqual([
      ['fine-tune', version],
      ['publish', null],
    ]);
    const list = await applied(e);
    expect(list.counts.pending.total).toBe(0);
    expect(list.items).toHaveLength(3);
    expect(list.items.every((i) => i.appliedIn === pointer.current)).toBe(true);
    expect(list.applies[0]).toMatchObject({ outcome: 'applied', version: pointer.current });
    // The lineage workflow made it: the child records its lineage (root: the published version).
    const child = decodeModel((await store.getVersion(pointer.current))!);
    expect(child.metadata.lineage).toMatchObject({ root: version, depth: 1 });

    // Nothing pending any more: the next tick makes no version.
    await tick(e);
    expect((await store.readPointer())!.pointer.history).toHaveLength(2);
  });
});
