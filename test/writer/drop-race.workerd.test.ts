/**
 * `POST /feedback/drop` against an apply in flight: the apply has read its pending corrections and stored its
 * version, and waits on the pointer swap when one of them is dropped. What the drop answers must be what the
 * writer records: an item it lists as dropped is neither consumed by the new version nor marked applied.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import type { IntentLog } from '../../src/worker/writer/intents.ts';
import type { ModelWriter } from '../../src/worker/writer/model-writer.ts';
import { writerOf } from '../../src/worker/writer/settings.ts';
import { aroundPointerSwap, NO_GUARD, post, randomPixels, seed, testEnv } from '../worker/helpers.ts';
import { listFeedback, sendCorrections } from './feedback-helpers.ts';

const base = env as unknown as Bindings;
const pixels = randomPixels(8, 91);

beforeEach(() => resetModelCache());

interface Item {
  id: number;
  status: string;
  appliedIn: string | null;
}

async function items(e: Bindings): Promise<Item[]> {
  return (await listFeedback<{ items: Item[] }>(e, '?status=pending,held,applied,dropped')).items;
}

describe('a drop while an apply is in flight', () => {
  it('should answer only what is recorded: an item it calls dropped is never consumed', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store } = await seed(e);
    await sendCorrections(e, pixels, 4, '10.9.0');
    const target = (await items(e))[2].id;

    // The apply stops just before its pointer swap until released. Flags, polled on each side, rather than
    // promises resolved across the test and the object's I/O contexts.
    const gate = { reached: false, released: false };
    const stub = writerOf(e, e.MODEL_PREFIX);
    await runInDurableObject(stub, (writer: ModelWriter) => {
      const before = async () => {
        gate.reached = true;
        while (!gate.released) await new Promise((resolve) => setTimeout(resolve, 5));
      };
      const MODELS = aroundPointerSwap(base.MODELS, store.pointerKey(), { before });
      (writer as unknown as { env: Bindings }).env = { ...e, MODELS };
    });
    const answerOf = async (res: Response) => ({ status: res.status, body: (await res.json()) as unknown });

    const applying = Promise.resolve(app.request('/feedback/apply', post({}), e)).then(answerOf);
    await expect.poll(() => gate.reached).toBe(true);
    let dropSettled = false;
    const dropping = Promise.resolve(app.request('/feedback/drop', post({ ids: [target] }), e))
      .then(answerOf)
      .finally(() => {
        dropSettled = true;
      });
    // The drop has been answered, or waits in the writer's queue behind the apply.
    await expect.poll(async () => dropSettled || (await stub.queueLength()) === 2).toBe(true);
    gate.released = true;

    const [applied, dropped] = await Promise.all([applying, dropping]);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(dropped.status, JSON.stringify(dropped.body)).toBe(200);
    const answer = applied.body as { version: string; consumed: number[] };
    const drop = dropped.body as { dropped: number[] };
    const stored = (await items(e)).find((i) => i.id === target)!;

    // The apply had read the item and trained on it: the drop came too late, and says so.
    expect(answer.consumed).toContain(target);
    expect(drop.dropped).toEqual([]);
    expect(stored).toMatchObject({ status: 'applied', appliedIn: answer.version });
    // And what the drop lists is never consumed (the invariant, whatever the order).
    for (const id of drop.dropped) expect(answer.consumed).not.toContain(id);
  });

  it("should conclude a crashed apply's open intent before dropping, and not call its consumed items dropped", async () => {
    const e = testEnv(base, NO_GUARD);
    const { version } = await seed(e);
    await sendCorrections(e, pixels, 3, '10.9.0');
    const ids = (await items(e)).map((i) => i.id);
    // What a crash right after an apply's swap leaves when the restart cannot read the store yet: an open intent
    // for the version the pointer names (here the seeded one), its items still pending.
    await runInDurableObject(writerOf(e, e.MODEL_PREFIX), (writer: ModelWriter) => {
      const intents = (writer as unknown as { intents: IntentLog }).intents;
      intents.record({
        version,
        prefix: e.MODEL_PREFIX!,
        kind: 'apply',
        items: ids,
        record: { version, parent: version, examples: ids.length, detail: null },
      });
    });

    const res = await app.request('/feedback/drop', post({ ids: [ids[1]] }), e);
    expect(res.status).toBe(200);
    const drop = (await res.json()) as { dropped: number[] };
    // Any later write concludes the intent if the drop did not.
    expect((await app.request('/feedback/apply', post({}), e)).status).toBe(422);

    const stored = (await items(e)).find((i) => i.id === ids[1])!;
    expect(drop.dropped).toEqual([]);
    expect(stored).toMatchObject({ status: 'applied', appliedIn: version });
  });
});
