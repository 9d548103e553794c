/**
 * @module
 * The one CORS rule of the public routes a web form on another origin calls (`/predict`, `/feedback`): the origins
 * in `CORS_ALLOWED_ORIGINS` (`*` or an exact list), JSON or upload bodies, preflights cached for ten minutes.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { createMiddleware } from 'hono/factory';
import { readConfig, type Bindings } from './config.ts';

/** The `Access-Control-Allow-Origin` answer for `origin`: `*`, the origin itself when listed, else none. */
export function allowedOrigin(origin: string, c: Context<{ Bindings: Bindings }>): string | null {
  const allowed = readConfig(c.env).corsOrigins;
  if (allowed.includes('*')) return '*';
  return allowed.includes(origin) ? origin : null;
}

/**
 * CORS middleware for a public POST route; `exposeHeaders` are the response headers a page may read.
 * Preflights are `hono/cors`'s. Every other request gets the headers `hono/cors` gives it (allowed origin,
 * exposed headers, `Vary: Origin` appended), set on the answer once it is made: `hono/cors` sets them before the
 * route runs, on a placeholder `Response` that Hono then copies into the route's answer (two more `Response`s
 * and a header merge per request, ~10-20 µs in workerd). `test/worker/cors.test.ts` compares both. One difference: a
 * bare `c.text(t)` (no status, no headers) keeps the runtime's `text/plain;charset=UTF-8`; the routes behind this
 * answer JSON.
 */
export function publicCors(exposeHeaders: string[] = []): MiddlewareHandler {
  const preflight = cors({
    origin: allowedOrigin,
    allowMethods: ['POST', 'OPTIONS'],
    allowHeaders: ['Content-Type'],
    exposeHeaders,
    maxAge: 600,
  });
  const exposed = exposeHeaders.length ? exposeHeaders.join(',') : null;
  return createMiddleware<{ Bindings: Bindings }>(async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    await next();
    const origin = allowedOrigin(c.req.header('origin') || '', c);
    let headers = c.res.headers;
    try {
      headers.append('Vary', 'Origin');
    } catch {
      // Immutable headers (a fetched response): answer a copy, as `c.header` would.
      c.res = new Response(c.res.body, c.res);
      headers = c.res.headers;
      headers.append('Vary', 'Origin');
    }
    if (origin) headers.set('Access-Control-Allow-Origin', origin);
    if (exposed) headers.set('Access-Control-Expose-Headers', exposed);
  });
}
