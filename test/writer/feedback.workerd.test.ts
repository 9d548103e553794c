/**
 * Feedback through the model writer Durable Object (SQLite-backed, emulated locally by workerd): stored as
 * pending, refused with a 4xx and nothing stored when bad, capped, listed with counts, applied as one version
 * that records which items it consumed, and held for review when it contradicts confident predictions.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { encode as encodePng } from 'fast-png';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../../src/format/index.ts';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import type { ModelStore } from '../../src/worker/model-store.ts';
import { FeedbackStore } from '../../src/worker/writer/feedback-store.ts';
import { writerOf } from '../../src/worker/writer/settings.ts';
import {
  CHECK_SET,
  imageAt,
  inkedPixels,
  makeModel,
  NO_GUARD,
  post,
  publishTrained,
  randomPixels,
  seed,
  testEnv,
  TOKEN,
  type ErrorJson,
} from '../worker/helpers.ts';
import { listFeedback } from './feedback-helpers.ts';

const base = env as unknown as Bindings;
const pixels = randomPixels(64, 5);
const ip = (i: number) => ({ 'CF-Connecting-IP': `198.51.100.${i}` });

const correction = (i: number, label: number, extra: Record<string, unknown> = {}) => ({
  pixelScale: '0-255',
  image: imageAt(pixels, i),
  label,
  modelVersion: 'v1',
  ...extra,
});

async function send(e: Bindings, body: unknown, client = 1) {
  return app.request('/feedback', post(body, null, ip(client)), e);
}

interface List {
  items: {
    id: number;
    label: number;
    status: string;
    appliedIn: string | null;
    prepared: string | null;
    pixels?: number[];
  }[];
  next: number | null;
  counts: Record<string, { total: number; byLabel: Record<string, number> }>;
}

const list = (e: Bindings, query = '') => listFeedback<List>(e, query);

const apply = (e: Bindings, body: unknown = {}) => app.request('/feedback/apply', post(body), e);

beforeEach(() => resetModelCache());

describe('the model writer Durable Object', () => {
  it('should be bound from wrangler.toml and answer over RPC with its SQLite storage', async () => {
    expect(base.MODEL_WRITER).toBeDefined();
    const stub = writerOf(base, `probe-${Date.now()}/`);
    const listed = await stub.listFeedback({ statuses: ['pending'], after: 0, limit: 10, pixels: false });
    expect(listed.items).toEqual([]);
    expect(listed.counts.pending.total).toBe(0);
    expect(await stub.queueLength()).toBe(0);
  });
});

describe('POST /feedback', () => {
  it('should store a correction as pending, list it with counts per label, and leave the model alone', async () => {
    const e = testEnv(base);
    const { store, version } = await seed(e);
    const res = await send(e, correction(0, 7, { predicted: 1, modelVersion: version }));
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: number; status: string };
    expect(body.status).toBe('pending');
    const listed = await list(e, '?pixels=1');
    expect(listed.items).toHaveLength(1);
    expect(listed.items[0]).toMatchObject({ id: body.id, label: 7, status: 'pending', appliedIn: null });
    expect(listed.items[0].pixels).toEqual(imageAt(pixels, 0));
    expect(listed.counts.pending.total).toBe(1);
    expect(listed.counts.pending.byLabel['7']).toBe(1);
    expect((await store.readPointer())!.pointer.current).toBe(version);
  });

  it('should refuse bad input with a 4xx and store nothing', async () => {
    const e = testEnv(base);
    await seed(e);
    const { label: _l, ...unlabelled } = correction(1, 3);
    const cases: [unknown, number, string][] = [
      ['{"pixelScale":', 400, 'malformed_json'],
      [unlabelled, 400, 'validation_error'],
      [correction(1, 10), 400, 'validation_error'],
      [correction(1, -1), 400, 'validation_error'],
      [correction(1, 3.5), 400, 'validation_error'],
      [correction(1, 3, { pixelScale: '0-1' }), 400, 'validation_error'],
      [correction(1, 3, { image: imageAt(pixels, 1).slice(0, 783) }), 400, 'validation_error'],
      [correction(1, 3, { modelVersion: '../current' }), 400, 'validation_error'],
      [correction(1, 3, { extra: 1 }), 400, 'validation_error'],
      [correction(1, 3, { image: new Array(784).fill(0) }), 422, 'empty_image'],
      [correction(1, 3, { image: new Array(784).fill(0), preprocess: true }), 422, 'empty_image'],
      [{ ...correction(1, 3), pad: 'x'.repeat(300_000) }, 413, 'body_too_large'],
    ];
    for (const [body, status, code] of cases) {
      const res = await send(e, body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(((await res.json()) as ErrorJson).error.code).toBe(code);
    }
    const wrongType = await app.request(
      '/feedback',
      { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hi' },
      e,
    );
    expect(wrongType.status).toBe(415);
    const listed = await list(e, '?status=pending,held,applied,dropped');
    expect(listed.items).toEqual([]);
  });

  it('should refuse a duplicate image with 409, whatever its label', async () => {
    const e = testEnv(base);
    await seed(e);
    const first = await send(e, correction(2, 4));
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: number };
    const again = await send(e, correction(2, 5), 2);
    expect(again.status).toBe(409);
    const theirs = ((await again.json()) as ErrorJson).error;
    expect(theirs).toMatchObject({ code: 'duplicate_feedback', details: { sameClient: false } });
    // Its sender (a retry after a 503 whose first try was stored, say) learns that it is stored, and as what.
    const retry = await send(e, correction(2, 4));
    expect(retry.status).toBe(409);
    expect(((await retry.json()) as ErrorJson).error).toMatchObject({
      code: 'duplicate_feedback',
      details: { id, sameClient: true, label: 4, status: 'pending' },
    });
    expect((await list(e)).counts.pending.total).toBe(1);
  });

  it('should cap pending feedback per client and per label', async () => {
    const e = testEnv(base, { FEEDBACK_MAX_PENDING_PER_CLIENT: '2', FEEDBACK_MAX_PENDING_PER_LABEL: '3' });
    await seed(e);
    expect((await send(e, correction(0, 1), 1)).status).toBe(201);
    expect((await send(e, correction(1, 2), 1)).status).toBe(201);
    const capped = await send(e, correction(2, 3), 1);
    expect(capped.status).toBe(429);
    expect(((await capped.json()) as ErrorJson).error.code).toBe('client_pending_cap');
    // Label 5 from three other clients fills its cap; a fourth is refused.
    for (let i = 0; i < 3; i++) expect((await send(e, correction(3 + i, 5), 10 + i)).status).toBe(201);
    const full = await send(e, correction(7, 5), 20);
    expect(full.status).toBe(429);
    expect(((await full.json()) as ErrorJson).error).toMatchObject({ code: 'label_pending_cap' });
    expect((await list(e)).counts.pending.total).toBe(5);
  });

  it('should take a PNG body (fields in the query) and a multipart form, as forms and <digit-pad> send them', async () => {
    const e = testEnv(base);
    await seed(e);
    // A 56×56 white square with a dark bar: preprocessing (on by default for uploads) inverts and centres it.
    const data = new Uint8Array(56 * 56).fill(255);
    for (let y = 10; y < 46; y++) for (let x = 24; x < 32; x++) data[y * 56 + x] = 0;
    const png = encodePng({ width: 56, height: 56, data, channels: 1, depth: 8 });
    const raw = await app.request(
      '/feedback?label=1&modelVersion=v7&predicted=4',
      { method: 'POST', headers: { 'Content-Type': 'image/png', ...ip(3) }, body: png },
      e,
    );
    expect(raw.status).toBe(201);
    // A field given twice (query string and form together) is refused, naming it, and nothing is stored.
    const relabel = new FormData();
    relabel.set('image', new Blob([png], { type: 'image/png' }));
    relabel.set('label', '2');
    for (const [query, init] of [
      ['?label=1&label=2&modelVersion=v7', { headers: { 'Content-Type': 'image/png', ...ip(6) }, body: png }],
      ['?label=1&modelVersion=v7', { headers: ip(6), body: relabel }],
    ] as const) {
      const res = await app.request(`/feedback${query}`, { method: 'POST', ...init }, e);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorJson).error).toMatchObject({
        code: 'repeated_field',
        details: { field: 'label' },
      });
    }
    const noLabel = new FormData();
    noLabel.set('image', new Blob([png], { type: 'image/png' }));
    noLabel.set('modelVersion', 'v7');
    const missing = await app.request('/feedback', { method: 'POST', headers: ip(4), body: noLabel }, e);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as ErrorJson).error.message).toMatch(/^label: required/);
    // The same picture again, as a form this time: the same network input, a duplicate.
    const dup = new FormData();
    dup.set('image', new Blob([png], { type: 'image/png' }));
    dup.set('label', '1');
    dup.set('modelVersion', 'v7');
    const again = await app.request('/feedback', { method: 'POST', headers: ip(4), body: dup }, e);
    expect(again.status).toBe(409);
    const blank = new FormData();
    blank.set(
      'image',
      new Blob(
        [encodePng({ width: 8, height: 8, data: new Uint8Array(64).fill(255), channels: 1, depth: 8 })],
        { type: 'image/png' },
      ),
    );
    blank.set('label', '3');
    blank.set('modelVersion', 'v7');
    expect((await app.request('/feedback', { method: 'POST', headers: ip(5), body: blank }, e)).status).toBe(
      422,
    );
    const listed = await list(e, '?pixels=1');
    expect(listed.items).toHaveLength(1);
    expect(listed.items[0]).toMatchObject({ label: 1, predicted: 4, answeredBy: 'v7' });
    expect(listed.items[0].pixels!.reduce((a, b) => a + b, 0)).toBeGreaterThan(255 * 20);
  });

  it('should refuse forms past the shape limits with 400 bad_form before parsing them, as /predict does', async () => {
    const e = testEnv(base);
    await seed(e);
    const data = new Uint8Array(56 * 56).fill(255);
    for (let y = 10; y < 46; y++) for (let x = 24; x < 32; x++) data[y * 56 + x] = 0;
    const png = encodePng({ width: 56, height: 56, data, channels: 1, depth: 8 });
    const b = 'XyZ';
    const field = (name: string, value: string, extra = '') =>
      `--${b}\r\nContent-Disposition: form-data; name="${name}"${extra}\r\n\r\n${value}\r\n`;
    const head = new TextEncoder().encode(
      `--${b}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`,
    );
    const form = (rest: string) => {
      const tail = new TextEncoder().encode(
        `\r\n${field('label', '1')}${field('modelVersion', 'v7')}${rest}--${b}--\r\n`,
      );
      const body = new Uint8Array(head.length + png.length + tail.length);
      body.set(head);
      body.set(png, head.length);
      body.set(tail, head.length + png.length);
      return body;
    };
    const send = (body: Uint8Array, i: number) =>
      app.request(
        '/feedback',
        {
          method: 'POST',
          headers: { 'Content-Type': `multipart/form-data; boundary=${b}`, ...ip(20 + i) },
          body,
        },
        e,
      );
    const refused = [
      form(field('f', '').repeat(3000)),
      form(`${field('decoy', `x--${b}--`)}${field('f', '').repeat(3000)}`),
      form(field('f', '', `\r\nX-Pad: ${'a'.repeat(200_000)}`)),
    ];
    for (const [i, body] of refused.entries()) {
      const res = await send(body, i);
      expect(res.status, `form ${i}`).toBe(400);
      expect(((await res.json()) as ErrorJson).error.code).toBe('bad_form');
    }
    expect((await list(e)).counts.pending.total).toBe(0);
    expect((await send(form(''), 9)).status).toBe(201);
  });

  it('should need the token to list, drop and apply', async () => {
    const e = testEnv(base);
    expect((await app.request('/feedback', {}, e)).status).toBe(401);
    expect((await app.request('/feedback/apply', post({}, null), e)).status).toBe(401);
    expect((await app.request('/feedback/drop', post({ ids: [1] }, 'wrong'), e)).status).toBe(401);
  });
});

describe('POST /feedback/apply', () => {
  it('should answer 422 nothing_pending and make no version when nothing is pending', async () => {
    const e = testEnv(base);
    const { store, version } = await seed(e);
    const res = await apply(e);
    expect(res.status).toBe(422);
    expect(((await res.json()) as ErrorJson).error.code).toBe('nothing_pending');
    expect((await store.readPointer())!.pointer.history).toHaveLength(1);
    expect((await store.readPointer())!.pointer.current).toBe(version);
  });

  it('should turn the pending feedback into one version and record which items it consumed', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    for (let i = 0; i < 6; i++) expect((await send(e, correction(i, i % 10), i)).status).toBe(201);
    const dropId = (await list(e)).items[5].id;
    const drop = await app.request('/feedback/drop', post({ ids: [dropId, 9999] }), e);
    expect(await drop.json()).toEqual({ dropped: [dropId] });

    const res = await apply(e);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as {
      version: string;
      parentVersion: string;
      rootVersion: string;
      depth: number;
      settings: { method: string };
      guard: { passed: boolean; checks: { name: string }[] };
      consumed: number[];
      examples: number;
    };
    expect(answer.parentVersion).toBe(version);
    // /fine-tune's lineage workflow and guard, with its default settings.
    expect(answer).toMatchObject({ rootVersion: version, depth: 1, settings: { method: 'minibatch' } });
    expect(answer.guard.passed).toBe(true);
    expect(answer.guard.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['parent', 'parent-class', 'root', 'root-class']),
    );
    expect(answer.examples).toBe(5);
    expect(answer.consumed).toHaveLength(5);
    expect(answer.consumed).not.toContain(dropId);
    const { pointer } = (await store.readPointer())!;
    expect(pointer.current).toBe(answer.version);
    expect(pointer.history.map((h) => h.source)).toEqual(['fine-tune', 'publish']);

    const applied = await list(e, '?status=applied');
    expect(applied.items.map((i) => i.id)).toEqual(answer.consumed);
    expect(applied.items.every((i) => i.appliedIn === answer.version)).toBe(true);
    expect(applied.counts.pending.total).toBe(0);
    expect(applied.counts.dropped.total).toBe(1);
    // Consumed: a second apply has nothing to do.
    expect((await apply(e)).status).toBe(422);
  });

  it('should train only on corrections prepared as the current model prepares images', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store } = await seed(e);
    const inked = inkedPixels(5, 9);
    const inkedCorrection = (i: number, preprocess: boolean) => ({
      ...correction(i, i),
      image: imageAt(inked, i),
      preprocess,
    });
    // The seeded model was trained on raw images: `preprocess: true` prepares MNIST-style, `false` not at all.
    for (let i = 0; i < 3; i++) {
      expect((await send(e, inkedCorrection(i, true), i)).status).toBe(201);
    }
    expect((await send(e, inkedCorrection(3, false), 3)).status).toBe(201);
    const sent = (await list(e)).items;
    expect(sent.map((i) => i.prepared)).toEqual(['plain', 'plain', 'plain', 'none']);

    // The recipe changes: a model that deskews becomes current. Its corrections are tagged its way.
    await publishDeskewing(store);
    resetModelCache();
    expect((await send(e, inkedCorrection(4, true), 4)).status).toBe(201);
    const fresh = (await list(e)).items[4];
    expect(fresh.prepared).toBe('deskew');

    const res = await apply(e);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as {
      consumed: number[];
      examples: number;
      droppedOtherwisePrepared: number[];
    };
    expect(answer.consumed).toEqual([sent[3].id, fresh.id]);
    const plainIds = sent.slice(0, 3).map((i) => i.id);
    expect(answer).toMatchObject({ examples: 2, droppedOtherwisePrepared: plainIds });
    // Dropped, not lost: listed as such, and nothing is pending any more.
    const dropped = await list(e, '?status=dropped');
    expect(dropped.items.map((i) => [i.id, i.prepared])).toEqual(plainIds.map((id) => [id, 'plain']));
    expect(dropped.counts.pending.total).toBe(0);

    // The page's correction: /predict's preview input, sent as it is with the preparation the preview named.
    const page = { ...inkedCorrection(5, false), image: imageAt(inked, 0).reverse(), prepared: 'plain' };
    expect((await send(e, page, 5)).status).toBe(201);
    expect((await list(e)).items.at(-1)!.prepared).toBe('plain');
    for (const preprocess of [true, undefined]) {
      const res = await send(e, { ...page, image: imageAt(inked, 1).reverse(), preprocess }, 6);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorJson).error.message).toContain(
        'prepared: only with preprocess false',
      );
    }

    // Only an otherwise-prepared item pending: it is dropped, nothing is applied, and the answer says why.
    const pageId = (await list(e)).items.at(-1)!.id;
    const again = await apply(e);
    expect(again.status).toBe(422);
    const error = ((await again.json()) as ErrorJson).error;
    expect(error.code).toBe('nothing_pending');
    expect(error.details).toMatchObject({ droppedOtherwisePrepared: [pageId] });
    expect(error.message).toContain('1 prepared for another recipe');
    expect((await store.readPointer())!.pointer.history.map((h) => h.source)).toEqual([
      'fine-tune',
      'publish',
      'publish',
    ]);
  });

  it('should add the preparation column to storage made before it, and keep applying the untagged rows', async () => {
    const e = testEnv(base);
    await runInDurableObject(writerOf(e, `legacy-${Date.now()}/`), (_writer, state: DurableObjectState) => {
      const sql = state.storage.sql;
      sql.exec('DROP TABLE feedback');
      sql.exec(`CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT, digest TEXT NOT NULL UNIQUE, pixels BLOB NOT NULL,
        label INTEGER NOT NULL, predicted INTEGER, answered_by TEXT, client TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', created_at TEXT NOT NULL, apply_id INTEGER)`);
      sql.exec(
        `INSERT INTO feedback (digest, pixels, label, client, created_at) VALUES ('d0', ?, 7, 'c', 'then')`,
        new Uint8Array(784).fill(9).buffer,
      );
      const store = new FeedbackStore(sql);
      store.migrate();
      store.migrate(); // idempotent
      const [old] = store.list(['pending'], 0, 10, false);
      expect(old).toMatchObject({ label: 7, prepared: null });
      expect(store.batch(['pending'], 10, ['none', 'deskew']).ids).toEqual([old.id]);
      const pixels = new Uint8Array(784).fill(1);
      store.insert({
        pixels,
        prepared: 'plain',
        digest: 'd1',
        label: 1,
        predicted: null,
        answeredBy: null,
        client: 'c',
      });
      expect(store.batch(['pending'], 10, ['none', 'deskew']).ids).toEqual([old.id]);
      expect(store.batch(['pending'], 10, ['none', 'plain']).ids).toHaveLength(2);
      // The tagged row is dropped for a deskewing model; the untagged one is kept, as before tags.
      expect(store.dropOtherwisePrepared(['none', 'deskew'])).toEqual([old.id + 1]);
      expect(store.dropOtherwisePrepared(['none', 'deskew'])).toEqual([]);
      expect(store.list(['pending'], 0, 10, false).map((i) => i.id)).toEqual([old.id]);
      expect(store.hasAny(['pending'])).toBe(true);
      expect(store.hasAny(['held'])).toBe(false);
    });
  });

  it('should hold a batch that contradicts confident predictions, then apply it once reviewed', async () => {
    // The random test model is never very sure: call 0.2 confident, so its answers count.
    const e = testEnv(base, {
      ...NO_GUARD,
      FEEDBACK_CONFIDENT: '0.2',
      FEEDBACK_MAX_DISAGREEMENT: '0.25',
    });
    const { store, net } = await seed(e);
    const x = Float32Array.from(pixels.subarray(0, 8 * 784), (v) => v / 255);
    const probs = net.predict(x, 8);
    for (let i = 0; i < 8; i++) {
      let best = 0;
      for (let j = 1; j < 10; j++) if (probs[i * 10 + j] > probs[i * 10 + best]) best = j;
      // Every label differs from the model's answer.
      expect((await send(e, correction(i, (best + 1) % 10), i)).status).toBe(201);
    }
    const held = await apply(e);
    expect(held.status).toBe(422);
    const err = ((await held.json()) as ErrorJson).error;
    expect(err.code).toBe('held_for_review');
    expect((err.details as { review: { share: number } }).review.share).toBeGreaterThan(0.25);
    expect((await store.readPointer())!.pointer.history).toHaveLength(1);
    const after = await list(e, '?status=held');
    expect(after.counts.held.total).toBe(8);
    expect(after.counts.pending.total).toBe(0);

    const reviewed = await apply(e, { reviewed: true });
    expect(reviewed.status).toBe(200);
    expect(((await reviewed.json()) as { consumed: number[] }).consumed).toHaveLength(8);
    expect((await store.readPointer())!.pointer.history).toHaveLength(2);
  });

  it('should leave the items pending and make no version when the lineage guard refuses the apply', async () => {
    // No drop at all allowed on the check set, and corrections that contradict it: its own images, relabelled.
    const e = testEnv(base, {
      GUARD_MAX_ACCURACY_DROP: '0',
      GUARD_MAX_CLASS_DROP: '0',
      GUARD_MAX_LINEAGE_DROP: '0',
      GUARD_MAX_LINEAGE_CLASS_DROP: '0',
    });
    const { store, version, checkLabels } = await seed(e);
    const checkPixels = randomPixels(64, 1001);
    for (let i = 0; i < 12; i++) {
      const body = { ...correction(0, (checkLabels[i] + 1) % 10), image: imageAt(checkPixels, i) };
      expect((await send(e, body, i)).status).toBe(201);
    }
    const res = await apply(e);
    expect(res.status).toBe(422);
    const err = ((await res.json()) as ErrorJson).error;
    expect(err.code).toBe('guard_refused');
    const details = err.details as { guard: { passed: boolean; reasons: string[] }; rootVersion: string };
    expect(details.guard.passed).toBe(false);
    expect(details.guard.reasons.length).toBeGreaterThan(0);
    expect(details.rootVersion).toBe(version);
    expect((await store.readPointer())!.pointer.history).toHaveLength(1);
    const after = await list(e, '?status=pending');
    expect(after.counts.pending.total).toBe(12);
    expect(after.items.every((i) => i.appliedIn === null)).toBe(true);
    const listed = (await (
      await app.request('/feedback?limit=1', { headers: { Authorization: `Bearer ${TOKEN}` } }, e)
    ).json()) as { applies: { outcome: string; version: string | null }[] };
    expect(listed.applies[0]).toMatchObject({ outcome: 'refused', version: null });
  });
});

describe('POST /feedback (JSON) without preprocess', () => {
  /** A small off-centre bar, which preprocessing crops, fits and re-centres. */
  const offCentre = Array.from({ length: 784 }, (_, i) => {
    const [y, x] = [Math.floor(i / 28), i % 28];
    return y >= 1 && y < 12 && x >= 2 && x < 4 ? 255 : 0;
  });

  /** What a lineage whose model was trained with `training` stores for the bar, sent with `extra`. */
  async function stored(
    training: Record<string, unknown> | null,
    extra: Record<string, unknown>,
    image = offCentre,
  ) {
    const e = testEnv(base);
    await publishTrained(e, training);
    const res = await send(e, { ...correction(0, 1), image, ...extra });
    expect(res.status).toBe(201);
    return (await list(e, '?pixels=1')).items[0].pixels!;
  }

  it('should prepare the image, as /predict does, when the model was trained on prepared images', async () => {
    const byDefault = await stored({ preprocess: true }, {});
    expect(byDefault).toEqual(await stored({ preprocess: true }, { preprocess: true }));
    expect(byDefault).not.toEqual(offCentre);
    // An explicit field always wins: the page sends /predict's network input with `preprocess: false`.
    expect(await stored({ preprocess: true }, { preprocess: false })).toEqual(offCentre);
  });

  it('should deskew it, JSON or upload, for a model whose recipe deskewed', async () => {
    const deskewing = { preprocess: true, deskew: true };
    const slanted = Array.from({ length: 784 }, (_, i) => {
      const [y, x] = [Math.floor(i / 28), i % 28];
      const at = 16 - 0.5 * (y - 4);
      return y >= 4 && y < 24 && x >= at && x < at + 3 ? 255 : 0;
    });
    const byDefault = await stored(deskewing, {}, slanted);
    expect(byDefault).toEqual(await stored(deskewing, { preprocess: true }, slanted));
    expect(byDefault).not.toEqual(await stored({ preprocess: true }, {}, slanted));
    const e = testEnv(base);
    await publishTrained(e, deskewing);
    const png = encodePng({ width: 28, height: 28, data: Uint8Array.from(slanted), channels: 1, depth: 8 });
    const res = await app.request(
      '/feedback?label=1&modelVersion=v7',
      { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png },
      e,
    );
    expect(res.status).toBe(201);
    const [item] = (await list(e, '?pixels=1')).items;
    expect(item.pixels).toEqual(byDefault);
    expect(item.prepared).toBe('deskew');
    // An upload sent as it is may say how it was prepared; saying it of one the server prepares is a 400.
    const asIs = async (query: string) =>
      app.request(
        `/feedback?label=1&modelVersion=v7${query}`,
        { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: png },
        e,
      );
    expect((await asIs('&prepared=deskew')).status).toBe(400);
    expect((await asIs('&preprocess=0&prepared=sideways')).status).toBe(400);
    expect((await asIs('&preprocess=0&prepared=deskew')).status).toBe(201);
    expect((await list(e)).items.map((i) => i.prepared)).toEqual(['deskew', 'deskew']);
  });

  it('should answer 503 no_model when no model is published to decide, and store when the request says', async () => {
    const e = testEnv(base);
    const res = await send(e, { ...correction(0, 1), image: offCentre });
    expect(res.status).toBe(503);
    expect(((await res.json()) as ErrorJson).error.code).toBe('no_model');
    expect((await send(e, { ...correction(0, 1), image: offCentre, preprocess: false })).status).toBe(201);
    expect((await list(e)).counts.pending.total).toBe(1);
  });

  it('should store the image as sent for a model trained on raw images, or one that does not say', async () => {
    expect(await stored({ preprocess: false }, {})).toEqual(offCentre);
    expect(await stored(null, {})).toEqual(offCentre);
  });
});

/** Publishes a model whose recipe deskews (with the check set the seeded model names) as the current one. */
async function publishDeskewing(store: ModelStore) {
  const decoded = decodeModel(makeModel(7, 'f32', CHECK_SET).blob);
  const metadata = { ...decoded.metadata, training: { preprocess: true, deskew: true } };
  return store.publish(encodeModel({ ...decoded, quantized: undefined, metadata }));
}
