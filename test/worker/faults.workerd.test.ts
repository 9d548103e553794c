/**
 * R2 fault injection: the bucket is wrapped in a proxy that throws, hides objects or hands back truncated,
 * bit-flipped, re-versioned or random bytes. Each fault must give a clear 503 (or the last good model keeps
 * serving, marked stale), never a 500, never a change to the store, and recovery once the fault is gone.
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { crc32 } from '../../src/format/index.ts';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import { ModelStore } from '../../src/worker/model-store.ts';
import type { ModelWriter } from '../../src/worker/writer/model-writer.ts';
import { writerOf } from '../../src/worker/writer/settings.ts';
import { CHECK_SET, makeModel, post, seed, testEnv, TOKEN, type ErrorJson, NO_GUARD } from './helpers.ts';

const base = env as unknown as Bindings;

type Op = 'get' | 'put' | 'head' | 'delete' | 'list';

/** What the proxy does now; tests flip these between requests. */
interface Faults {
  /** Operations that throw (optionally only for keys matching `throwKeys`). */
  throwOn: Set<Op>;
  throwKeys: RegExp;
  /** Objects (by key) that read as absent. */
  hide: RegExp | null;
  /** Rewrites the bytes read for matching keys. */
  corrupt: { keys: RegExp; edit: (bytes: Uint8Array) => Uint8Array } | null;
}

function noFaults(): Faults {
  return { throwOn: new Set(), throwKeys: /.*/, hide: null, corrupt: null };
}

/** A read that hands back `bytes` as if R2 had stored them, under the real object's key and etag. */
function fakeBody(obj: R2Object, bytes: Uint8Array): R2ObjectBody {
  const copy = () => bytes.slice();
  const fake = {
    key: obj.key,
    version: obj.version,
    etag: obj.etag,
    httpEtag: obj.httpEtag,
    uploaded: obj.uploaded,
    size: bytes.length,
    httpMetadata: obj.httpMetadata,
    customMetadata: obj.customMetadata,
    body: new Response(copy()).body!,
    bodyUsed: false,
    arrayBuffer: async () => copy().buffer,
    bytes: async () => copy(),
    text: async () => new TextDecoder().decode(bytes),
    json: async () => JSON.parse(new TextDecoder().decode(bytes)),
    blob: async () => new Blob([copy()]),
  };
  return fake as unknown as R2ObjectBody;
}

/** `real` with the faults of `faults` applied to every call. */
function faultyBucket(real: R2Bucket, faults: Faults): R2Bucket {
  const maybeThrow = (op: Op, key: string) => {
    if (faults.throwOn.has(op) && faults.throwKeys.test(key)) {
      throw new Error(`injected R2 ${op} failure on ${key}`);
    }
  };
  return {
    async get(key: string, options?: R2GetOptions) {
      maybeThrow('get', key);
      if (faults.hide?.test(key)) return null;
      const obj = await real.get(key, options);
      if (!obj || !('body' in obj) || !faults.corrupt?.keys.test(key)) return obj;
      const bytes = new Uint8Array(await obj.arrayBuffer());
      return fakeBody(obj, faults.corrupt.edit(bytes));
    },
    async head(key: string) {
      maybeThrow('head', key);
      if (faults.hide?.test(key)) return null;
      return real.head(key);
    },
    async put(key: string, value: never, options?: R2PutOptions) {
      maybeThrow('put', key);
      return real.put(key, value, options);
    },
    async delete(keys: string | string[]) {
      maybeThrow('delete', String(keys));
      return real.delete(keys);
    },
    async list(options?: R2ListOptions) {
      maybeThrow('list', options?.prefix ?? '');
      return real.list(options);
    },
  } as unknown as R2Bucket;
}

/** A fresh store with a good model and the bucket behind a fault proxy. */
async function setup(overrides: Record<string, string> = {}) {
  const faults = noFaults();
  const plain = testEnv(base, overrides);
  const seeded = await seed(plain);
  const e: Bindings = { ...plain, MODELS: faultyBucket(base.MODELS, faults) };
  // Writes go through the lineage's model writer, which uses its own binding: give it the same faulty bucket.
  await runInDurableObject(writerOf(plain, plain.MODEL_PREFIX), (writer: ModelWriter) => {
    (writer as unknown as { env: Bindings }).env = e;
  });
  return { e, plain, faults, ...seeded };
}

const IMAGE = { pixelScale: '0-255', image: new Array(784).fill(0) };
const FINE_TUNE = {
  pixelScale: '0-255',
  examples: [{ image: new Array(784).fill(30), label: 4 }],
  steps: 1,
};

/** Every key under the env's prefix with its etag: equal snapshots mean nothing was written or deleted. */
async function snapshot(e: Bindings): Promise<string[]> {
  const listed = await base.MODELS.list({ prefix: e.MODEL_PREFIX });
  return listed.objects.map((o) => `${o.key}@${o.etag}`).sort();
}

async function expectError(res: Response, status: number, code?: string | RegExp) {
  const body = (await res.json()) as ErrorJson;
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'details', 'message']);
  if (typeof code === 'string') expect(body.error.code).toBe(code);
  else if (code) expect(body.error.code).toMatch(code);
  return body;
}

const versionKey = /\/versions\//;

const reseal = (blob: Uint8Array) => {
  const out = blob.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
};

/** Read-time blob corruptions and the error code a request with no model loaded must answer. */
const BLOB_FAULTS: [string, (b: Uint8Array) => Uint8Array, string][] = [
  ['truncated to half', (b) => b.slice(0, b.length >> 1), 'model_corrupt'],
  ['truncated by one byte', (b) => b.slice(0, -1), 'model_corrupt'],
  ['empty', () => new Uint8Array(0), 'model_corrupt'],
  [
    'bit-flipped in the weights',
    (b) => b.map((v, i) => (i === b.length - 200 ? v ^ 0x10 : v)),
    'model_corrupt',
  ],
  ['bit-flipped in the header', (b) => b.map((v, i) => (i === 9 ? v ^ 1 : v)), 'model_corrupt'],
  [
    'of an unknown format version (checksum resealed)',
    (b) => reseal(b.map((v, i) => (i === 4 ? 2 : v))),
    'model_corrupt',
  ],
  ['one byte longer', (b) => Uint8Array.from([...b, 0]), 'model_corrupt'],
];

beforeEach(() => resetModelCache());

describe('a corrupt or missing model blob in R2', () => {
  for (const [what, edit, code] of BLOB_FAULTS) {
    it(`should answer 503 ${code} when the blob reads ${what}, and recover when it reads well`, async () => {
      const { e, faults } = await setup();
      faults.corrupt = { keys: versionKey, edit };
      const body = await expectError(await app.request('/predict', post(IMAGE), e), 503, code);
      expect(body.error.message).toMatch(/corrupt/);
      await expectError(await app.request('/health', {}, e), 503, code);
      faults.corrupt = null;
      expect((await app.request('/predict', post(IMAGE), e)).status).toBe(200);
    });
  }

  it('should give the format error code and offset in the details of an unknown format version', async () => {
    const { e, faults } = await setup();
    faults.corrupt = { keys: versionKey, edit: BLOB_FAULTS[5][1] };
    const body = await expectError(await app.request('/predict', post(IMAGE), e), 503, 'model_corrupt');
    expect(body.error.details).toMatchObject({ formatError: 'UNSUPPORTED_VERSION', offset: 4 });
  });

  it('should answer 503 model_missing when the pointer names a version that is not stored', async () => {
    const { e, faults } = await setup();
    faults.hide = versionKey;
    await expectError(await app.request('/predict', post(IMAGE), e), 503, 'model_missing');
    faults.hide = null;
    expect((await app.request('/predict', post(IMAGE), e)).status).toBe(200);
  });

  it('should keep serving the last good model, marked stale, while a newer version is bad, and move on once it is good', async () => {
    const { e, plain, faults, version } = await setup();
    expect((await app.request('/predict', post(IMAGE), e)).status).toBe(200);
    const store = new ModelStore(plain.MODELS, plain.MODEL_PREFIX!);
    const next = await store.publish(makeModel(2).blob);
    for (const [what, edit, code] of BLOB_FAULTS) {
      faults.corrupt = { keys: new RegExp(`${next.version}\\.bin$`), edit };
      const res = await app.request('/predict', post(IMAGE), e);
      expect(res.status, what).toBe(200);
      expect(res.headers.get('X-Model-Version')).toBe(version);
      expect(res.headers.get('X-Model-Stale')).toBe(code);
    }
    faults.corrupt = null;
    const healed = await app.request('/predict', post(IMAGE), e);
    expect(healed.headers.get('X-Model-Version')).toBe(next.version);
    expect(healed.headers.get('X-Model-Stale')).toBeNull();
  });

  it('should answer 503 to random bytes stored as the current model, never 500 (fast-check, 150 blobs)', async () => {
    const { e, faults } = await setup();
    let codes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), async (bytes, magic) => {
        if (magic && bytes.length >= 6) bytes.set([0x45, 0x4d, 0x4c, 0x50, 1, 0]);
        faults.corrupt = { keys: versionKey, edit: () => bytes };
        resetModelCache();
        const body = await expectError(await app.request('/predict', post(IMAGE), e), 503);
        codes = codes.add(body.error.code);
      }),
      { numRuns: 150, seed: 6001 },
    );
    expect([...codes]).toEqual(['model_corrupt']);
  });
});

describe('R2 operations throwing', () => {
  it('should answer 503 on every read route when R2 get fails and nothing is loaded, then recover', async () => {
    const { e, faults } = await setup();
    faults.throwOn.add('get');
    for (const [path, init] of [
      ['/predict', post(IMAGE)],
      ['/health', {}],
      ['/model', {}],
    ] as const) {
      const body = await expectError(await app.request(path, init, e), 503, 'model_store_unavailable');
      expect(body.error.message).toContain('injected R2 get failure');
    }
    faults.throwOn.clear();
    expect((await app.request('/predict', post(IMAGE), e)).status).toBe(200);
  });

  it('should keep serving the loaded model, marked stale, while R2 get fails', async () => {
    const { e, faults, version } = await setup();
    expect((await app.request('/predict', post(IMAGE), e)).status).toBe(200);
    faults.throwOn.add('get');
    const res = await app.request('/predict', post(IMAGE), e);
    expect(res.status).toBe(200);
    expect(res.headers.get('X-Model-Version')).toBe(version);
    expect(res.headers.get('X-Model-Stale')).toBe('model_store_unavailable');
    const health = (await (await app.request('/health', {}, e)).json()) as { status: string };
    expect(health.status).toBe('degraded');
    faults.throwOn.clear();
    const again = await app.request('/health', {}, e);
    expect(await again.json()).toEqual({ status: 'ok', modelVersion: version, stale: null });
  });

  for (const op of ['get', 'put', 'head'] as const) {
    it(`should answer /fine-tune with 503 and change nothing when R2 ${op} fails`, async () => {
      const { e, plain, faults } = await setup(NO_GUARD);
      const before = await snapshot(plain);
      faults.throwOn.add(op);
      const res = await app.request('/fine-tune', post(FINE_TUNE), e);
      if (op === 'head') {
        // A fine-tune does not use head: it must simply succeed.
        expect(res.status).toBe(200);
        return;
      }
      await expectError(res, 503);
      expect(await snapshot(plain)).toEqual(before);
      faults.throwOn.clear();
      expect((await app.request('/fine-tune', post(FINE_TUNE), e)).status).toBe(200);
    });
  }

  it('should answer /fine-tune with 503 when only the pointer swap fails, leaving the pointer as it was and no blob behind', async () => {
    const { e, plain, faults, store, version } = await setup(NO_GUARD);
    const before = await snapshot(plain);
    faults.throwOn.add('put');
    faults.throwKeys = /current\.json$/;
    await expectError(await app.request('/fine-tune', post(FINE_TUNE), e), 503);
    expect((await store.readPointer())!.pointer.current).toBe(version);
    expect(await snapshot(plain)).toEqual(before);
    faults.throwOn.clear();
    const ok = await app.request('/fine-tune', post(FINE_TUNE), e);
    expect(ok.status).toBe(200);
    const { pointer } = (await new ModelStore(plain.MODELS, plain.MODEL_PREFIX!).readPointer())!;
    expect(pointer.history[0].parent).toBe(version);
  });

  for (const op of ['get', 'head', 'put'] as const) {
    it(`should answer /model/rollback with 503 and change nothing when R2 ${op} fails`, async () => {
      const { e, plain, faults, store, version } = await setup();
      await store.publish(makeModel(3).blob);
      const before = await snapshot(plain);
      faults.throwOn.add(op);
      await expectError(await app.request('/model/rollback', post({ version }), e), 503);
      expect(await snapshot(plain)).toEqual(before);
      faults.throwOn.clear();
      expect((await app.request('/model/rollback', post({ version }), e)).status).toBe(200);
    });
  }
});

describe('fine-tune against a broken store', () => {
  it('should answer 503 and save nothing when the current model is corrupt', async () => {
    const { e, plain, faults } = await setup(NO_GUARD);
    const before = await snapshot(plain);
    faults.corrupt = { keys: versionKey, edit: (b) => b.slice(0, 100) };
    await expectError(await app.request('/fine-tune', post(FINE_TUNE), e), 503, 'model_corrupt');
    expect(await snapshot(plain)).toEqual(before);
  });

  it('should answer 503 and save nothing when the check set is missing or corrupt', async () => {
    const { e, plain, faults } = await setup(NO_GUARD);
    const before = await snapshot(plain);
    faults.hide = new RegExp(CHECK_SET.replace('.', '\\.'));
    await expectError(await app.request('/fine-tune', post(FINE_TUNE), e), 503, 'check_set_missing');
    faults.hide = null;
    faults.corrupt = { keys: /checksets\//, edit: (b) => b.slice(0, 10) };
    await expectError(await app.request('/fine-tune', post(FINE_TUNE), e), 503, 'check_set_corrupt');
    expect(await snapshot(plain)).toEqual(before);
    faults.corrupt = null;
    expect((await app.request('/fine-tune', post(FINE_TUNE), e)).status).toBe(200);
  });

  it('should answer 503 for a pointer that is not JSON, and recover', async () => {
    const { e, faults } = await setup();
    faults.corrupt = {
      keys: /current\.json$/,
      edit: () => new TextEncoder().encode('{"current": "v1", "hist'),
    };
    await expectError(await app.request('/predict', post(IMAGE), e), 503);
    await expectError(await app.request('/fine-tune', post(FINE_TUNE), e), 503, 'pointer_corrupt');
    faults.corrupt = null;
    expect((await app.request('/predict', post(IMAGE), e)).status).toBe(200);
  });

  it('should not leak the token in any fault answer', async () => {
    const { e, faults } = await setup();
    faults.throwOn.add('get');
    const res = await app.request('/fine-tune', post(FINE_TUNE), e);
    expect(await res.text()).not.toContain(TOKEN);
  });
});
