/**
 * `fastPredictRequest` (the hand-checked common `/predict` body) accepts only what `PredictRequest` accepts and
 * returns the same data; everything else is left to zod. Checked on valid MNIST bodies in every form and on
 * thousands of bodies with one thing wrong.
 */
import { describe, expect, it } from 'vitest';
import { loadDataset, MNIST_DIR } from '../../scripts/lib/dataset.ts';
import { createRng } from '../../src/nn/rng.ts';
import {
  fastPredictQuery,
  fastPredictRequest,
  withFastPath,
  withFastQuery,
} from '../../src/worker/fast-predict-request.ts';
import { PredictQuery, PredictRequest } from '../../src/worker/schemas.ts';

const { test } = loadDataset(MNIST_DIR, { limit: 1 });
const image = (i: number, scale = 255) =>
  Array.from(test.images.subarray(i * 784, (i + 1) * 784), (v) => (scale === 255 ? Math.round(v * 255) : v));
const rows = (flat: unknown[]) => Array.from({ length: 28 }, (_, r) => flat.slice(r * 28, r * 28 + 28));

/** The fast path agrees with zod: null, or zod accepts too and its data is the same JSON. */
function agrees(body: unknown): boolean | null {
  const fast = fastPredictRequest(body);
  const zod = PredictRequest.safeParse(body);
  if (fast === null) return null;
  return zod.success && JSON.stringify(zod.data) === JSON.stringify(fast);
}

describe('fastPredictRequest', () => {
  it('takes the common bodies (flat or rows, either scale, with the optional settings) and equals zod', () => {
    const bodies: unknown[] = [];
    for (let i = 0; i < 50; i++) {
      bodies.push({ image: image(i) }, { image: rows(image(i)), pixelScale: '0-255' });
      bodies.push({ image: image(i, 1), pixelScale: '0-1', minConfidence: 0.5, preprocess: false });
      bodies.push({ preprocess: true, image: rows(image(i, 1)), minConfidence: 1 });
    }
    for (const body of bodies) expect(agrees(JSON.parse(JSON.stringify(body)))).toBe(true);
  });

  it('leaves every body with one thing wrong to zod, or agrees with it', () => {
    const rand = createRng(17);
    const pix = (b: Record<string, unknown>) => (Array.isArray(b.image) ? (b.image as unknown[]) : []);
    const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)];
    const wrongs: ((b: Record<string, unknown>) => void)[] = [
      (b) => (b.pixelScale = pick(['0-256', 1, null, '0-1', '0-255'])),
      (b) => (b.minConfidence = pick([0, -1, 1.5, '0.5', null, 0.9, 1])),
      (b) => (b.preprocess = pick([1, 'true', null, true])),
      (b) => (b.images = [b.image]),
      (b) => (b.extra = 1),
      (b) => delete b.image,
      (b) => (b.image = pix(b).slice(1)),
      (b) => (b.image = [...pix(b), 0]),
      (b) =>
        (b.image = pix(b).map((v, i) =>
          i === Math.floor(rand() * 784) ? pick([256, -1, 1.5, '7', null, [1], 255]) : v,
        )),
      (b) => (b.image = rows(pix(b))),
      (b) => (b.image = rows(pix(b)).map((r, i) => (i === 3 ? [...r, 0] : r))),
      (b) => (b.image = rows(pix(b)).map((r, i) => (i === 5 ? 7 : r))),
      (b) => (b.image = rows(pix(b)).slice(0, 27)),
      (b) => (b.image = pix(b).map((v) => (typeof v === 'number' ? v / 255 : v))),
      (b) => (b.image = 'pixels'),
    ];
    let fastTaken = 0;
    let refused = 0;
    for (let t = 0; t < 3000; t++) {
      const body: Record<string, unknown> = { image: image(t % 200, rand() < 0.7 ? 255 : 1) };
      if (rand() < 0.5) body.pixelScale = rand() < 0.5 ? '0-255' : '0-1';
      const count = 1 + Math.floor(rand() * 2);
      for (let w = 0; w < count; w++) wrongs[Math.floor(rand() * wrongs.length)](body);
      const parsed = JSON.parse(JSON.stringify(body)) as unknown;
      const verdict = agrees(parsed);
      if (verdict === null) {
        if (!PredictRequest.safeParse(parsed).success) refused++;
        continue;
      }
      expect(verdict).toBe(true);
      fastTaken++;
    }
    // Both outcomes occur, so the comparison above was made on both kinds of body.
    expect(fastTaken).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it("withFastPath puts it in front of zod in what the route's validator runs (safeParseAsync), once", async () => {
    const valid = JSON.parse(JSON.stringify({ image: image(3) })) as { image: number[] };
    const invalid = { image: [...image(3).slice(1), 300] };
    // zod copies the pixels; the fast path hands back the array as sent, so this tells which one answered.
    expect((await PredictRequest.safeParseAsync(valid)).data?.image).not.toBe(valid.image);
    const zodAsync = PredictRequest.safeParseAsync;
    expect(withFastPath(PredictRequest)).toBe(PredictRequest);
    const installed = PredictRequest.safeParseAsync;
    expect(installed).not.toBe(zodAsync);
    expect(withFastPath(PredictRequest).safeParseAsync).toBe(installed);
    const fast = await PredictRequest.safeParseAsync(valid);
    expect(fast.data?.image).toBe(valid.image);
    expect(fast.success && JSON.stringify(fast.data)).toBe(JSON.stringify(PredictRequest.parse(valid)));
    const refused = await PredictRequest.safeParseAsync(invalid);
    expect(refused.success).toBe(false);
    expect(refused.error?.issues).toEqual(PredictRequest.safeParse(invalid).error?.issues);
  });

  it('refuses what is not a plain object', () => {
    for (const v of [null, 7, 'x', [image(0)], Object.create({ image: image(0) })])
      expect(fastPredictRequest(v)).toBeNull();
  });
});

describe('fastPredictQuery', () => {
  const plain = (entries: Record<string, unknown>) => Object.assign(Object.create(null), entries) as object;
  const queries: unknown[] = [
    {},
    plain({}),
    { version: 'v1' },
    plain({ version: '20261201T175324608Z-795c67' }),
    { version: 'x'.repeat(100) },
    { version: '\u{1F600}'.repeat(50) },
    { version: 'x'.repeat(101) },
    { version: '\u{1F600}'.repeat(51) },
    { version: '' },
    { version: 'v1', other: 'x' },
    { other: 'x', preprocess: '0' },
    { version: 5 },
    { version: ['a', 'b'] },
    { version: undefined },
    { version: null },
    Object.create({ version: 'inherited' }),
    null,
    'version=v1',
    ['v1'],
  ];

  it('agrees with zod where it answers, and leaves the rest to zod', () => {
    let taken = 0;
    for (const q of queries) {
      const fast = fastPredictQuery(q);
      const zod = PredictQuery.safeParse(q);
      if (fast === null) continue;
      taken++;
      expect(zod.success, JSON.stringify(q)).toBe(true);
      expect(fast, JSON.stringify(q)).toStrictEqual(zod.data);
    }
    expect(taken).toBe(8);
    // Every query zod refuses is left to it (its issues are the answer).
    for (const q of queries) if (!PredictQuery.safeParse(q).success) expect(fastPredictQuery(q)).toBeNull();
  });

  it('withFastQuery puts it in front of zod in safeParseAsync, once', async () => {
    const zodAsync = PredictQuery.safeParseAsync;
    expect(withFastQuery(PredictQuery)).toBe(PredictQuery);
    const installed = PredictQuery.safeParseAsync;
    expect(installed).not.toBe(zodAsync);
    expect(withFastQuery(PredictQuery).safeParseAsync).toBe(installed);
    expect(await PredictQuery.safeParseAsync({ version: 'v1', other: 'x' })).toStrictEqual({
      success: true,
      data: { version: 'v1' },
    });
    const refused = await PredictQuery.safeParseAsync({ version: '' });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues).toEqual(PredictQuery.safeParse({ version: '' }).error?.issues);
  });
});
