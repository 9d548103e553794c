/**
 * @module
 * Per-client rate limits with the Workers rate-limit binding (`wrangler dev` and the tests emulate it), each
 * counted apart: authenticated writes (`/fine-tune`, `/model/rollback`, after the token check), refused tokens
 * (their own throttle, so no unauthenticated request can spend a valid token's budget), and image uploads to
 * `/predict` (`UPLOAD_LIMITER`; JSON pixels are not limited). Not the work ceiling of one request (`config.ts`).
 */
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { isImageRequest } from './body.ts';
import { readConfig, type Bindings } from './config.ts';
import { ApiError } from './errors.ts';

/** Fine-tunes one client may start per period; must equal `simple.limit` of `FINE_TUNE_LIMITER`. */
export const FINE_TUNE_RATE_LIMIT = 10;
/** The period in seconds (10 or 60 are allowed); must equal `simple.period` of `FINE_TUNE_LIMITER`. */
export const FINE_TUNE_RATE_PERIOD_SECONDS = 60;
/** Image uploads one client may send per period; must equal `simple.limit` of `UPLOAD_LIMITER`. */
export const UPLOAD_RATE_LIMIT = 30;
/** Must equal `simple.period` of `UPLOAD_LIMITER`. */
export const UPLOAD_RATE_PERIOD_SECONDS = 10;

type Env = { Bindings: Bindings };

/**
 * The client a request counts against: its address as Cloudflare saw it, within this deployment's store. An
 * IPv6 address counts as its /64 (`clientAddress`). Not the bearer token: every writer shares the one token, so
 * it would throttle all clients together.
 */
export function clientKey(request: Request, prefix: string): string {
  const ip = request.headers.get('CF-Connecting-IP')?.trim() || 'unknown';
  return `${prefix}|${clientAddress(ip)}`;
}

/**
 * The part of an address that names one client: an IPv4 address whole (also written as `::ffff:a.b.c.d`), an IPv6
 * address by its first 64 bits, since one subscriber is given a whole /64 and could otherwise count as 2^64
 * clients (a review filled a digit's pending cap from 11 addresses). Anything else is returned as it is.
 */
export function clientAddress(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!ip.includes(':')) return ip;
  const bare = ip.split('%')[0];
  const halves = bare.split('::');
  if (halves.length > 2) return ip;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  // An IPv4 tail (`64:ff9b::1.2.3.4`) is two groups; only the first four groups are kept anyway.
  const tailLength = tail.length + (tail.at(-1)?.includes('.') ? 1 : 0);
  const missing = 8 - head.length - tailLength;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return ip;
  const all = [...head, ...Array<string>(missing).fill('0'), ...tail];
  const prefix = all
    .slice(0, 4)
    .map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16).toString(16) : null));
  return prefix.includes(null) ? ip : `${prefix.join(':')}::/64`;
}

interface Limit {
  binding: (env: Bindings) => RateLimit | undefined;
  /** Keeps this count apart from the others on the same binding. */
  scope: string;
  /** What is counted, e.g. `fine-tunes`. */
  what: string;
  limit: number;
  periodSeconds: number;
}

/**
 * Counts one request against `limit`; 429 `rate_limited` with `Retry-After` once the client used it up. Fails
 * open (with a warning) if the binding throws, and where no binding is configured (an env built by hand).
 */
async function spend(c: Context<Env>, limit: Limit): Promise<void> {
  const limiter = limit.binding(c.env);
  if (!limiter) return;
  let success = true;
  try {
    ({ success } = await limiter.limit({
      key: clientKey(c.req.raw, readConfig(c.env).prefix) + limit.scope,
    }));
  } catch (err) {
    console.warn('rate limiter unavailable; request allowed', (err as Error).message);
  }
  if (success) return;
  // The binding does not say when its window ends; a whole period is an upper bound.
  const retryAfter = limit.periodSeconds;
  throw new ApiError(
    429,
    'rate_limited',
    `at most ${limit.limit} ${limit.what} per ${limit.periodSeconds} s per client; retry in ${retryAfter} s`,
    {
      limit: limit.limit,
      periodSeconds: limit.periodSeconds,
      retryAfterSeconds: retryAfter,
      counts: limit.what,
    },
    { 'Retry-After': String(retryAfter) },
  );
}

const writes = (what: string, scope: string): Limit => ({
  binding: (env) => env.FINE_TUNE_LIMITER as RateLimit | undefined,
  scope,
  what,
  limit: FINE_TUNE_RATE_LIMIT,
  periodSeconds: FINE_TUNE_RATE_PERIOD_SECONDS,
});

function limitPosts(limit: Limit, applies: (request: Request) => boolean = () => true) {
  return createMiddleware<Env>(async (c, next) => {
    if (c.req.method === 'POST' && applies(c.req.raw)) await spend(c, limit);
    await next();
  });
}

/** The limit of `/fine-tune`: mount it after `requireToken`, so only authenticated requests count. */
export const fineTuneRateLimit = limitPosts(writes('fine-tunes', ''));
/** The limit of `/model/rollback`, counted apart from fine-tunes; after `requireToken` too. */
export const rollbackRateLimit = limitPosts(writes('rollbacks', '|rollback'));
/** The limit of image uploads to `/predict` (PNG bodies and forms), before the body is read. */
export const uploadRateLimit = limitPosts(
  {
    binding: (env) => env.UPLOAD_LIMITER as RateLimit | undefined,
    scope: '|upload',
    what: 'image uploads',
    limit: UPLOAD_RATE_LIMIT,
    periodSeconds: UPLOAD_RATE_PERIOD_SECONDS,
  },
  isImageRequest,
);

/**
 * Counts a refused token (missing or wrong) against the client's own failure throttle, apart from its writes:
 * guessing stays throttled, and a valid token is never refused because of someone else's failures.
 * @throws {ApiError} 429 `rate_limited` once the client's refused tokens used up the period.
 */
export function countAuthFailure(c: Context<Env>): Promise<void> {
  return spend(c, writes('refused tokens', '|auth-failure'));
}
