/**
 * The model writer failing under its callers: a crash (the Durable Object reset with `state.abort`, as a deploy or
 * an eviction does) just after or just before an apply's pointer swap, and a reset while requests wait in the
 * writer's queue. An apply's corrections are consumed exactly once or stay pending, no orphan version is left,
 * and every caller that was waiting gets a retryable 503 JSON error with Retry-After, never a 500.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import type { ModelWriter } from '../../src/worker/writer/model-writer.ts';
import { writerOf } from '../../src/worker/writer/settings.ts';
import {
  aroundPointerSwap,
  imageAt,
  NO_GUARD,
  post,
  randomPixels,
  seed,
  testEnv,
  type ErrorJson,
} from '../worker/helpers.ts';
import { listFeedback, sendCorrections } from './feedback-helpers.ts';

const base = env as unknown as Bindings;
const pixels = randomPixels(16, 77);
const unlimited = { limit: async () => ({ success: true }) };

beforeEach(() => resetModelCache());

interface List {
  items: { id: number; status: string; appliedIn: string | null }[];
  counts: Record<string, { total: number }>;
  applies: { outcome: string; version: string | null }[];
}

const list = (e: Bindings) => listFeedback<List>(e, '?status=pending,held,applied');

/** Gives the writer of `e`'s lineage a bucket that crashes it (resets the object) before or after a swap. */
async function crashWriterAt(e: Bindings, pointerKey: string, when: 'before' | 'after') {
  await runInDurableObject(writerOf(e, e.MODEL_PREFIX), (writer: ModelWriter, state) => {
    const crash = () => state.abort(`injected crash ${when} the pointer swap`);
    const MODELS = aroundPointerSwap(base.MODELS, pointerKey, { [when]: crash });
    (writer as unknown as { env: Bindings }).env = { ...e, MODELS };
  });
}

async function versionKeys(e: Bindings): Promise<string[]> {
  const listed = await base.MODELS.list({ prefix: `${e.MODEL_PREFIX}versions/` });
  return listed.objects.map((o) => o.key).filter((k) => !k.endsWith('.master.bin'));
}

async function expectWriterUnavailable(res: Response) {
  const body = (await res.json()) as ErrorJson;
  expect(res.status, JSON.stringify(body)).toBe(503);
  expect(body.error.code).toBe('writer_unavailable');
  expect(body.error.details).toMatchObject({ retryAfterSeconds: 1 });
  expect(res.headers.get('Retry-After')).toBe('1');
  return body;
}

describe('a crash between an apply and its bookkeeping', () => {
  it('should record the consumption on restart when the pointer shows the version, and never re-apply', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store } = await seed(e);
    await sendCorrections(e, pixels, 6, '10.7.0');
    await crashWriterAt(e, store.pointerKey(), 'after');

    // The swap landed, then the object died before it could mark the corrections consumed.
    await expectWriterUnavailable(await app.request('/feedback/apply', post({}), e));
    const { pointer } = (await store.readPointer())!;
    expect(pointer.history.map((h) => h.source)).toEqual(['fine-tune', 'publish']);

    // The restarted writer read its intent and the pointer: the six are consumed by that version.
    const after = await list(e);
    expect(after.counts.pending.total).toBe(0);
    expect(after.counts.applied.total).toBe(6);
    expect(after.items.every((i) => i.appliedIn === pointer.current)).toBe(true);
    expect(after.applies.map((a) => [a.outcome, a.version])).toEqual([['applied', pointer.current]]);

    const again = await app.request('/feedback/apply', post({}), e);
    expect(again.status).toBe(422);
    expect(((await again.json()) as ErrorJson).error.code).toBe('nothing_pending');
    expect((await store.readPointer())!.pointer.history).toHaveLength(2);
  });

  it('should release the corrections and delete the stored version when the swap never landed', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    await sendCorrections(e, pixels, 5, '10.7.0');
    await crashWriterAt(e, store.pointerKey(), 'before');

    await expectWriterUnavailable(await app.request('/feedback/apply', post({}), e));
    expect((await store.readPointer())!.pointer.current).toBe(version);

    // Restarted: the version stored for the swap that was never sent is gone, the five are pending again.
    const after = await list(e);
    expect(after.counts.pending.total).toBe(5);
    expect(after.counts.applied.total).toBe(0);
    expect(after.applies).toEqual([]);
    expect(await versionKeys(e)).toEqual([store.versionKey(version)]);

    // And one apply turns them into one version.
    const res = await app.request('/feedback/apply', post({}), e);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { consumed: number[] }).consumed).toHaveLength(5);
    expect((await list(e)).counts.applied.total).toBe(5);
    expect(await versionKeys(e)).toHaveLength(2);
  });

  it('should leave no orphan version when a fine-tune crashes before its swap', async () => {
    const e = { ...testEnv(base, NO_GUARD), FINE_TUNE_LIMITER: unlimited } as unknown as Bindings;
    const { store, version } = await seed(e);
    await crashWriterAt(e, store.pointerKey(), 'before');
    const body = { pixelScale: '0-255', examples: [{ image: imageAt(pixels, 0), label: 3 }], steps: 1 };
    await expectWriterUnavailable(await app.request('/fine-tune', post(body), e));
    // The next call starts a new writer, which concludes the intent.
    expect((await list(e)).counts.pending.total).toBe(0);
    expect(await versionKeys(e)).toEqual([store.versionKey(version)]);
    expect((await store.readPointer())!.pointer.current).toBe(version);
    expect((await app.request('/fine-tune', post(body), e)).status).toBe(200);
  });
});

describe('a writer reset while requests wait in its queue', () => {
  it('should answer every waiting caller 503 writer_unavailable with Retry-After, write nothing, then recover', async () => {
    const e = { ...testEnv(base, NO_GUARD), FINE_TUNE_LIMITER: unlimited } as unknown as Bindings;
    const { store, version } = await seed(e);
    await sendCorrections(e, pixels, 2, '10.7.0');
    const stub = writerOf(e, e.MODEL_PREFIX);
    // Hold the queue: every write now waits behind one that never ends.
    await runInDurableObject(stub, (writer: ModelWriter) => {
      (writer as unknown as { tail: Promise<unknown> }).tail = new Promise(() => {});
    });
    const fineTune = { pixelScale: '0-255', examples: [{ image: imageAt(pixels, 9), label: 1 }], steps: 1 };
    const waiting = [
      app.request('/fine-tune', post(fineTune), e),
      app.request('/model/rollback', post({ version }), e),
      app.request('/feedback/apply', post({}), e),
    ];
    await expect.poll(() => stub.queueLength()).toBe(3);
    // abort() throws in the context that calls it, after resetting the object.
    await runInDurableObject(stub, (_writer: ModelWriter, state) => state.abort('injected reset')).catch(
      () => {},
    );

    for (const res of await Promise.all(waiting)) {
      expect((await expectWriterUnavailable(res)).error.details).toMatchObject({ reset: true });
    }
    const { pointer } = (await store.readPointer())!;
    expect(pointer.history).toHaveLength(1);
    expect(await versionKeys(e)).toEqual([store.versionKey(version)]);
    expect((await list(e)).counts.pending.total).toBe(2);

    // The next calls reach a fresh writer.
    expect((await app.request('/fine-tune', post(fineTune), e)).status).toBe(200);
    expect((await app.request('/feedback/apply', post({}), e)).status).toBe(200);
  });
});
