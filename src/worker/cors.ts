/**
 * @module
 * The one CORS rule of the public routes a web form on another origin calls (`/predict`, `/feedback`): the origins
 * in `CORS_ALLOWED_ORIGINS` (`*` or an exact list), JSON or upload bodies, preflights cached for ten minutes.
 */
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import { readConfig, type Bindings } from './config.ts';

/** The `Access-Control-Allow-Origin` answer for `origin`: `*`, the origin itself when listed, else none. */
export function allowedOrigin(origin: string, c: Context<{ Bindings: Bindings }>): string | null {
  const allowed = readConfig(c.env).corsOrigins;
  if (allowed.includes('*')) return '*';
  return allowed.includes(origin) ? origin : null;
}

/** CORS middleware for a public POST route; `exposeHeaders` are the response headers a page may read. */
export function publicCors(exposeHeaders: string[] = []) {
  return cors({
    origin: allowedOrigin,
    allowMethods: ['POST', 'OPTIONS'],
    allowHeaders: ['Content-Type'],
    exposeHeaders,
    maxAge: 600,
  });
}
