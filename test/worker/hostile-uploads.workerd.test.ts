/**
 * Every case of the hostile-upload corpus (`scripts/lib/hostile-corpus.ts`) through `POST /predict` in workerd:
 * the status and JSON error code the corpus expects (never a 5xx), and nothing written to R2. CPU and memory
 * cannot be read from inside workerd (its clocks stop during a request); `npm run bench:uploads -- --worker`
 * measures them on the workerd process from outside.
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostileCorpus } from '../../scripts/lib/hostile-corpus.ts';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { MAX_WAITING_UPLOADS, uploadsPlaced } from '../../src/worker/upload-turns.ts';
import { imageAt, inkedPixels, post, seed, testEnv, type ErrorJson } from './helpers.ts';

const e = testEnv(env as unknown as Bindings);
const corpus = hostileCorpus();

/** Every object in the bucket, with its etag: what "nothing stored" is checked against. */
async function bucketState(): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await e.MODELS.list({ cursor });
    keys.push(...page.objects.map((o) => `${o.key} ${o.etag}`));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys.sort();
}

beforeAll(async () => {
  await seed(e);
});

describe('POST /predict with hostile uploads', () => {
  let client = 0;
  it.each(corpus.map((c) => [c.name, c] as const))('should answer %s as the corpus says', async (_, c) => {
    const before = await bucketState();
    const res = await app.request(
      '/predict',
      {
        method: 'POST',
        // A fresh client address each time, so a per-client upload limit never answers in the decoder's place.
        headers: { 'Content-Type': c.contentType, 'CF-Connecting-IP': `hostile-${client++}` },
        body: c.body,
      },
      e,
    );
    const json = (await res.json()) as ErrorJson & { digit?: number };
    expect(res.status, JSON.stringify(json).slice(0, 300)).toBe(c.status);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
    if (c.error) expect(json.error.code).toBe(c.error);
    else expect(json.digit).toBeTypeOf('number');
    expect(await bucketState()).toEqual(before);
  });
});

describe('POST /predict with the costliest accepted upload from many clients at once', () => {
  it('should take the uploads in turns, refuse past the queue with 503 busy, and answer JSON alongside', async () => {
    const upload = corpus.find((c) => c.name.startsWith('max-gray8-') && c.status === 200)!;
    const count = MAX_WAITING_UPLOADS + 5;
    const uploads = Array.from({ length: count }, (_, i) =>
      app.request(
        '/predict',
        {
          method: 'POST',
          headers: { 'Content-Type': upload.contentType, 'CF-Connecting-IP': `crowd-${i}` },
          body: upload.body,
        },
        e,
      ),
    );
    const json = Array.from({ length: 4 }, (_, i) =>
      app.request('/predict', post({ image: imageAt(inkedPixels(1, i), 0) }, null), e),
    );
    const answers = await Promise.all(uploads);
    const statuses = answers.map((r) => r.status);
    // The first MAX_WAITING_UPLOADS + 1 to arrive are admitted whatever the timing.
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(MAX_WAITING_UPLOADS + 1);
    for (const res of answers) {
      if (res.status === 200) continue;
      expect(res.status).toBe(503);
      expect(res.headers.get('Retry-After')).toBe('1');
      expect(((await res.json()) as ErrorJson).error.code).toBe('busy');
    }
    for (const res of await Promise.all(json)) expect(res.status).toBe(200);
  });

  it('should answer 503 busy before reading a body while the admitted uploads are still being read', async () => {
    const upload = corpus.find((c) => c.name === 'valid-gray8-28x28')!;
    // Bodies that send 10 bytes, then wait: each holds its place while it is read, the turn is not taken yet.
    const releases: (() => void)[] = [];
    const slowBody = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(upload.body.slice(0, 10));
          releases.push(() => {
            controller.enqueue(upload.body.slice(10));
            controller.close();
          });
        },
      });
    const send = (body: BodyInit, i: string) =>
      app.request(
        '/predict',
        {
          method: 'POST',
          headers: { 'Content-Type': 'image/png', 'CF-Connecting-IP': `slow-${i}` },
          body,
          duplex: 'half',
        } as RequestInit,
        e,
      );
    const held = Array.from({ length: MAX_WAITING_UPLOADS + 1 }, (_, i) => send(slowBody(), `${i}`));
    for (let wait = 0; uploadsPlaced() < MAX_WAITING_UPLOADS + 1 && wait < 200; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // One more, whole and valid: refused at once, while the others' bodies are still arriving.
    const extra = await send(upload.body, 'extra');
    expect(extra.status).toBe(503);
    expect(extra.headers.get('Retry-After')).toBe('1');
    expect(((await extra.json()) as ErrorJson).error.code).toBe('busy');
    // A correction uploaded to /feedback waits in the same places (a review: they skipped the queue).
    const feedback = (i: string) =>
      app.request(
        '/feedback?label=1&modelVersion=v7',
        {
          method: 'POST',
          headers: { 'Content-Type': 'image/png', 'CF-Connecting-IP': `fb-${i}` },
          body: upload.body,
        },
        e,
      );
    const refused = await feedback('during');
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as ErrorJson).error.code).toBe('busy');
    for (const release of releases) release();
    for (const res of await Promise.all(held)) expect(res.status).toBe(200);
    expect(uploadsPlaced()).toBe(0);
    expect((await send(upload.body, 'after')).status).toBe(200);
    expect((await feedback('after')).status).toBe(201);
  });
});
