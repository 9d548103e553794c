/**
 * The per-client rate limits against the bindings miniflare emulates from `wrangler.toml`: 429 with Retry-After
 * past the limit, counted per client address and per store; authenticated writes, refused tokens and image
 * uploads each counted apart.
 */
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import app from '../../src/worker/index.ts';
import { resetModelCache } from '../../src/worker/model-cache.ts';
import type { Bindings } from '../../src/worker/config.ts';
import {
  FINE_TUNE_RATE_LIMIT,
  FINE_TUNE_RATE_PERIOD_SECONDS,
  UPLOAD_RATE_LIMIT,
  UPLOAD_RATE_PERIOD_SECONDS,
} from '../../src/worker/rate-limit.ts';
import { NO_GUARD, post, seed, testEnv, TOKEN, type ErrorJson } from './helpers.ts';

const base = env as unknown as Bindings;

// Invalid on purpose: a 400 after the limiter counted it, so the test spends no CPU on training.
const cheap = (token: string | null, ip: string) =>
  post({ pixelScale: '0-255' }, token, { 'CF-Connecting-IP': ip });

beforeEach(() => resetModelCache());

describe('fineTuneRateLimit', () => {
  it('should have the binding from wrangler.toml', () => {
    expect(typeof base.FINE_TUNE_LIMITER.limit).toBe('function');
  });

  it('should answer 429 with Retry-After once a client used its fine-tunes of the period', async () => {
    const e = testEnv(base);
    await seed(e);
    const statuses: number[] = [];
    for (let i = 0; i < FINE_TUNE_RATE_LIMIT; i++) {
      statuses.push((await app.request('/fine-tune', cheap(TOKEN, '203.0.113.7'), e)).status);
    }
    expect(statuses).toEqual(new Array(FINE_TUNE_RATE_LIMIT).fill(400));
    const limited = await app.request('/fine-tune', cheap(TOKEN, '203.0.113.7'), e);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBe(String(FINE_TUNE_RATE_PERIOD_SECONDS));
    const err = (await limited.json()) as ErrorJson;
    expect(err.error.code).toBe('rate_limited');
    expect(err.error.details).toMatchObject({ limit: FINE_TUNE_RATE_LIMIT });
  });

  it('should count each client address apart', async () => {
    const e = testEnv(base);
    await seed(e);
    for (let i = 0; i <= FINE_TUNE_RATE_LIMIT; i++)
      await app.request('/fine-tune', cheap(TOKEN, '198.51.100.1'), e);
    expect((await app.request('/fine-tune', cheap(TOKEN, '198.51.100.1'), e)).status).toBe(429);
    expect((await app.request('/fine-tune', cheap(TOKEN, '198.51.100.2'), e)).status).toBe(400);
  });

  it('should throttle refused tokens on their own count, and never leak the token', async () => {
    const e = testEnv(base);
    await seed(e);
    const statuses: number[] = [];
    for (let i = 0; i <= FINE_TUNE_RATE_LIMIT; i++) {
      const res = await app.request('/fine-tune', cheap(`${TOKEN.slice(0, -1)}X`, '192.0.2.9'), e);
      statuses.push(res.status);
      expect(await res.text()).not.toContain(TOKEN);
    }
    expect(statuses.slice(0, FINE_TUNE_RATE_LIMIT)).toEqual(new Array(FINE_TUNE_RATE_LIMIT).fill(401));
    expect(statuses[FINE_TUNE_RATE_LIMIT]).toBe(429);
    // The refused tokens spent their own throttle, not the writes' budget: the right token goes through.
    expect((await app.request('/fine-tune', cheap(TOKEN, '192.0.2.9'), e)).status).toBe(400);
  });

  it('should let a valid fine-tune through after ten unauthenticated requests from its address', async () => {
    const e = testEnv(base, NO_GUARD);
    const { store, version } = await seed(e);
    const ip = '192.0.2.30';
    // What any web page can send cross-site without a preflight: text/plain, no Authorization.
    const forged: RequestInit = {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', 'CF-Connecting-IP': ip },
      body: '{"pixelScale":"0-255","examples":[]}',
    };
    for (let i = 0; i < 10; i++) expect((await app.request('/fine-tune', forged, e)).status).toBe(401);
    // Past ten, refused tokens are throttled, on every write route (one count per client).
    expect((await app.request('/model/rollback', forged, e)).status).toBe(429);
    expect((await app.request('/fine-tune', forged, e)).status).toBe(429);
    const example = { image: new Array(784).fill(0).map((_, j) => (j % 7) * 30), label: 3 };
    const res = await app.request(
      '/fine-tune',
      post({ pixelScale: '0-255', examples: [example], steps: 2 }, TOKEN, { 'CF-Connecting-IP': ip }),
      e,
    );
    expect(res.status).toBe(200);
    const { version: child } = (await res.json()) as { version: string };
    expect((await store.readPointer())!.pointer.current).toBe(child);
    const back = await app.request(
      '/model/rollback',
      post({ version }, TOKEN, { 'CF-Connecting-IP': ip }),
      e,
    );
    expect(back.status).toBe(200);
  });

  it('should throttle /model/rollback the same way, counted apart from fine-tunes', async () => {
    const e = testEnv(base);
    await seed(e);
    const ip = '192.0.2.20';
    const rollback = post({}, TOKEN, { 'CF-Connecting-IP': ip });
    const statuses: number[] = [];
    for (let i = 0; i <= FINE_TUNE_RATE_LIMIT; i++) {
      statuses.push((await app.request('/model/rollback', rollback, e)).status);
    }
    expect(statuses.slice(0, FINE_TUNE_RATE_LIMIT)).toEqual(new Array(FINE_TUNE_RATE_LIMIT).fill(400));
    const limited = await app.request('/model/rollback', rollback, e);
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as ErrorJson).error.message).toMatch(/rollbacks per 60 s/);
    // The same client's fine-tunes have their own count.
    expect((await app.request('/fine-tune', cheap(TOKEN, ip), e)).status).toBe(400);
  });

  it('should limit image uploads to /predict per client, with Retry-After', async () => {
    const e = testEnv(base);
    await seed(e);
    // Not a PNG: a 415 after the limiter counted it, so the test spends no CPU decoding.
    const upload = (ip: string): RequestInit => ({
      method: 'POST',
      headers: { 'Content-Type': 'image/png', 'CF-Connecting-IP': ip },
      body: 'not a png',
    });
    const statuses: number[] = [];
    for (let i = 0; i < UPLOAD_RATE_LIMIT; i++) {
      statuses.push((await app.request('/predict', upload('192.0.2.40'), e)).status);
    }
    expect(statuses).toEqual(new Array(UPLOAD_RATE_LIMIT).fill(415));
    const limited = await app.request('/predict', upload('192.0.2.40'), e);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('Retry-After')).toBe(String(UPLOAD_RATE_PERIOD_SECONDS));
    expect(((await limited.json()) as ErrorJson).error.details).toMatchObject({ counts: 'image uploads' });
    expect((await app.request('/predict', upload('192.0.2.41'), e)).status).toBe(415);
    // JSON pixels from the limited client still answer.
    const image = new Array(784).fill(0);
    const res = await app.request(
      '/predict',
      post({ pixelScale: '0-255', image }, null, { 'CF-Connecting-IP': '192.0.2.40' }),
      e,
    );
    expect(res.status).toBe(200);
  });

  it('should leave JSON /predict unlimited', async () => {
    const e = testEnv(base);
    await seed(e);
    const image = new Array(784).fill(0);
    for (let i = 0; i <= FINE_TUNE_RATE_LIMIT + 2; i++) {
      const res = await app.request(
        '/predict',
        post({ pixelScale: '0-255', image }, null, { 'CF-Connecting-IP': '192.0.2.10' }),
        e,
      );
      expect(res.status).toBe(200);
    }
  });

  it('should let a request through when the limiter throws', async () => {
    const down: RateLimit = { limit: () => Promise.reject(new Error('limiter down')) };
    const e: Bindings = { ...testEnv(base), FINE_TUNE_LIMITER: down };
    await seed(e);
    expect((await app.request('/fine-tune', cheap(TOKEN, '192.0.2.11'), e)).status).toBe(400);
  });
});
