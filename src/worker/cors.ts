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
  return originFor(origin, c.env);
}

function originFor(origin: string, env: Bindings): string | null {
  const allowed = corsOrigins(env);
  if (allowed.includes('*')) return '*';
  return allowed.includes(origin) ? origin : null;
}

/** The last `CORS_ALLOWED_ORIGINS` value read and its list: the var is the same for every request of a deployment. */
let originsRead: { value: string | undefined; list: string[] } | null = null;

/** `readConfig(env).corsOrigins`, without reading the rest of the settings on every request. */
function corsOrigins(env: Bindings): string[] {
  const value = env.CORS_ALLOWED_ORIGINS;
  if (originsRead === null || originsRead.value !== value) {
    originsRead = { value, list: readConfig({ CORS_ALLOWED_ORIGINS: value } as Bindings).corsOrigins };
  }
  return originsRead.list;
}

/** The CORS headers `publicCors` made for this request's answer, for a route that builds its own `Response`. */
export type CorsVariables = { corsHeaders?: Record<string, string> };

/** Answers that already carry their request's CORS headers (`corsJson`): `publicCors` leaves them as they are. */
const carrying = new WeakSet<Response>();

/**
 * A 200 JSON answer as `c.json(body, 200, headers)` makes it, with the CORS headers `publicCors` would set on it
 * afterwards already in it (`cors`: the route's `c.get('corsHeaders')`, undefined outside `publicCors`): one
 * `Response` with all its headers at once, instead of Hono's `Headers` built a header at a time and three more
 * header calls after the route. For a route behind `publicCors` that sets no headers with `c.header` (Hono's
 * `c.json` would merge them; this does not) and passes none named like a CORS header or `Vary`.
 */
export function corsJson(
  cors: CorsVariables['corsHeaders'],
  body: unknown,
  headers: Record<string, string>,
): Response {
  const res = new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'Content-Type': 'application/json', ...headers, ...cors },
  });
  if (cors) carrying.add(res);
  return res;
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
  return createMiddleware<{ Bindings: Bindings; Variables: CorsVariables }>(async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    const origin = originFor(c.req.header('origin') || '', c.env);
    // Handed to the route, whose own answer can carry them from the start (`corsJson`).
    const cors: Record<string, string> = { Vary: 'Origin' };
    if (origin) cors['Access-Control-Allow-Origin'] = origin;
    if (exposed) cors['Access-Control-Expose-Headers'] = exposed;
    c.set('corsHeaders', cors);
    await next();
    if (carrying.has(c.res)) return;
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
