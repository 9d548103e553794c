/**
 * `publicCors` answers every request as `hono/cors` with the same options would (it sets the headers on the
 * route's answer instead of a placeholder): same status, headers and body, for preflights and plain requests, with
 * `*` and with a list of origins, on answers with their own `Vary`, errors through `onError`, unknown routes, and
 * a response whose headers are immutable.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { describe, expect, it } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import { allowedOrigin, corsJson, publicCors, type CorsVariables } from '../../src/worker/cors.ts';
import { ApiError, handleError } from '../../src/worker/errors.ts';

type AppEnv = { Bindings: Bindings; Variables: CorsVariables };

/** The same little app behind `middleware`. */
function appWith(middleware: (expose: string[]) => ReturnType<typeof publicCors>, expose: string[]) {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.use('/r/*', middleware(expose));
  app.post('/r/json', (c) => c.json({ ok: true }, 200, { 'X-Model-Version': 'v1' }));
  // What /predict answers: publicCors's headers in the route's own Response (`corsJson`); plain c.json as reference.
  const stale = { 'X-Model-Version': 'v1', 'X-Model-Stale': 'stale_model' };
  app.post('/r/prebuilt', (c) =>
    middleware === honoCors
      ? c.json({ digit: 3, p: [0.1, 1e-7] }, 200, stale)
      : corsJson(c.get('corsHeaders'), { digit: 3, p: [0.1, 1e-7] }, stale),
  );
  app.post('/r/vary', (c) => c.json({ ok: true }, 200, { Vary: 'Accept' }));
  app.post('/r/throws', () => {
    throw new ApiError(400, 'bad', 'refused', null, { 'Retry-After': '3' });
  });
  // Response.redirect's headers are immutable.
  app.get('/r/redirect', () => Response.redirect('https://elsewhere.example/', 302));
  // With a status: a bare `c.text(t)` takes Hono's fast path, whose Content-Type is the runtime's default
  // (`text/plain;charset=UTF-8`) where a placeholder made it Hono's (`text/plain; charset=UTF-8`); no route behind
  // publicCors answers that way.
  app.get('/r/text', (c) => c.text('plain', 200));
  return app;
}

const honoCors = (expose: string[]) =>
  cors({
    origin: allowedOrigin,
    allowMethods: ['POST', 'OPTIONS'],
    allowHeaders: ['Content-Type'],
    exposeHeaders: expose,
    maxAge: 600,
  });

async function seen(res: Response) {
  return { status: res.status, headers: [...res.headers], body: await res.text() };
}

describe('publicCors', () => {
  const requests: [string, RequestInit][] = [];
  for (const path of ['/r/json', '/r/prebuilt', '/r/vary', '/r/throws', '/r/missing']) {
    for (const origin of [null, 'https://a.example', 'https://evil.example']) {
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (origin) headers.Origin = origin;
      requests.push([path, { method: 'POST', body: '{}', headers }]);
      requests.push([
        path,
        {
          method: 'OPTIONS',
          headers: { ...(origin ? { Origin: origin } : {}), 'Access-Control-Request-Method': 'POST' },
        },
      ]);
    }
  }
  requests.push(['/r/redirect', { headers: { Origin: 'https://a.example' } }]);
  requests.push(['/r/text', { method: 'GET' }]);

  for (const origins of ['*', 'https://a.example, https://b.example']) {
    for (const expose of [[], ['X-Model-Version']]) {
      it(`should answer as hono/cors does (origins ${origins}, exposing ${expose.join(',') || 'nothing'})`, async () => {
        const env = { CORS_ALLOWED_ORIGINS: origins } as unknown as Bindings;
        const ours = appWith(publicCors, expose);
        const theirs = appWith(honoCors, expose);
        for (const [path, init] of requests) {
          const a = await seen(await ours.request(path, init, env));
          const b = await seen(await theirs.request(path, init, env));
          expect(a, `${init.method ?? 'GET'} ${path} ${JSON.stringify(init.headers)}`).toEqual(b);
        }
      });
    }
  }

  it('should leave an answer made by corsJson as it is, with its headers once', async () => {
    const env = { CORS_ALLOWED_ORIGINS: 'https://a.example' } as unknown as Bindings;
    const res = await appWith(publicCors, ['X-Model-Version']).request(
      '/r/prebuilt',
      { method: 'POST', headers: { Origin: 'https://a.example' } },
      env,
    );
    expect([...res.headers]).toEqual([
      ['access-control-allow-origin', 'https://a.example'],
      ['access-control-expose-headers', 'X-Model-Version'],
      ['content-type', 'application/json'],
      ['vary', 'Origin'],
      ['x-model-stale', 'stale_model'],
      ['x-model-version', 'v1'],
    ]);
    // Outside publicCors it is c.json's answer.
    const bare = corsJson(undefined, { ok: true }, { 'X-Model-Version': 'v1' });
    expect([...bare.headers]).toEqual([
      ['content-type', 'application/json'],
      ['x-model-version', 'v1'],
    ]);
  });

  it('should follow a changed CORS_ALLOWED_ORIGINS between requests', async () => {
    const app = appWith(publicCors, []);
    for (const [origins, expected] of [
      ['https://a.example', 'https://a.example'],
      ['https://b.example', null],
      ['*', '*'],
      [undefined, '*'],
    ] as const) {
      const env = { CORS_ALLOWED_ORIGINS: origins } as unknown as Bindings;
      const init = { method: 'POST', headers: { Origin: 'https://a.example' } };
      for (const path of ['/r/json', '/r/prebuilt']) {
        const res = await app.request(path, init, env);
        expect(res.headers.get('Access-Control-Allow-Origin'), `${origins} ${path}`).toBe(expected);
      }
    }
  });

  it('should append Vary: Origin and the allowed origin to the answer', async () => {
    const env = { CORS_ALLOWED_ORIGINS: 'https://a.example' } as unknown as Bindings;
    const res = await appWith(publicCors, ['X-Model-Version']).request(
      '/r/vary',
      { method: 'POST', headers: { Origin: 'https://a.example' } },
      env,
    );
    expect(res.headers.get('Vary')).toBe('Accept, Origin');
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('https://a.example');
    expect(res.headers.get('Access-Control-Expose-Headers')).toBe('X-Model-Version');
  });
});
