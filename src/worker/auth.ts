/**
 * @module
 * Bearer-token guard for the writing endpoints, against the `FINE_TUNE_TOKEN` Worker secret.
 * With no secret configured the endpoints are disabled (403), never open. Not user management.
 */
import { createMiddleware } from 'hono/factory';
import type { Bindings } from './config.ts';
import { ApiError } from './errors.ts';
import { countAuthFailure } from './rate-limit.ts';

async function digest(s: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest('SHA-256', new TextEncoder().encode(s));
}

/** Compares in constant time: both sides are hashed first so lengths never leak through an early exit. */
export async function tokensEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/**
 * Middleware: 403 when no token is configured, 401 when the bearer token is missing or wrong. Every refusal is
 * counted in the client's refused-token throttle (429 past it), never in the budget of its valid writes.
 */
export const requireToken = createMiddleware<{ Bindings: Bindings }>(async (c, next) => {
  const expected = c.env.FINE_TUNE_TOKEN;
  if (!expected) {
    throw new ApiError(403, 'disabled', 'this endpoint is disabled: no FINE_TUNE_TOKEN secret is configured');
  }
  const header = c.req.header('Authorization') ?? '';
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  const challenge = { 'WWW-Authenticate': 'Bearer realm="edge-mlp"' };
  if (!match) {
    await countAuthFailure(c);
    throw new ApiError(
      401,
      'unauthorized',
      header
        ? '`Authorization` must be `Bearer <token>` (one token, nothing after it)'
        : 'missing `Authorization: Bearer <token>` header',
      null,
      challenge,
    );
  }
  if (!(await tokensEqual(match[1], expected))) {
    await countAuthFailure(c);
    throw new ApiError(401, 'unauthorized', 'the bearer token is not valid', null, challenge);
  }
  await next();
});
