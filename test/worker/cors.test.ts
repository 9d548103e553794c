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
import { allowedOrigin, publicCors } from '../../src/worker/cors.ts';
import { ApiError, handleError } from '../../src/worker/errors.ts';

type AppEnv = { Bindings: Bindings };

/** The same little app behind `middleware`. */
function appWith(middleware: (expose: string[]) => ReturnType<typeof publicCors>, expose: string[]) {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.use('/r/*', middleware(expose));
  app.post('/r/json', (c) => c.json({ ok: true }, 200, { 'X-Model-Version': 'v1' }));
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
  for (const path of ['/r/json', '/r/vary', '/r/throws', '/r/missing']) {
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
