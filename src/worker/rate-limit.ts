/**
 * @module
 * Per-client rate limiting of the token-guarded writes, `/fine-tune` and `/model/rollback`, with the Workers
 * rate-limit binding (`FINE_TUNE_LIMITER` in `wrangler.toml`; `wrangler dev` and the tests emulate it), each
 * route counted apart. Not the work ceiling of one request (see `config.ts`).
 */
import { createMiddleware } from 'hono/factory';
import { readConfig, type Bindings } from './config.ts';
import { ApiError } from './errors.ts';

/** Fine-tunes one client may start per period; must equal `simple.limit` of `FINE_TUNE_LIMITER`. */
export const FINE_TUNE_RATE_LIMIT = 10;
/** The period in seconds (10 or 60 are allowed); must equal `simple.period` of `FINE_TUNE_LIMITER`. */
export const FINE_TUNE_RATE_PERIOD_SECONDS = 60;

/**
 * The client a request counts against: its address as Cloudflare saw it, within this deployment's store.
 * Not the bearer token: every writer shares the one token, so it would throttle all clients together.
 */
export function clientKey(request: Request, prefix: string): string {
  const ip = request.headers.get('CF-Connecting-IP')?.trim() || 'unknown';
  return `${prefix}|${ip}`;
}

/**
 * Middleware: 429 `rate_limited` with `Retry-After` once a client used up its `what` (e.g. `fine-tunes`) of the
 * period; `scope` keeps each route's count apart. Runs before the token check, so guessing tokens is throttled
 * too. Fails open (with a warning) if the binding throws: the work ceiling still bounds each request.
 */
function writeRateLimit(what: string, scope: string) {
  return createMiddleware<{ Bindings: Bindings }>(async (c, next) => {
    // Absent only where no `wrangler.toml` applies (e.g. an env built by hand).
    const limiter = c.env.FINE_TUNE_LIMITER as RateLimit | undefined;
    if (!limiter || c.req.method !== 'POST') return next();
    let success = true;
    try {
      const key = clientKey(c.req.raw, readConfig(c.env).prefix) + scope;
      ({ success } = await limiter.limit({ key }));
    } catch (err) {
      console.warn('rate limiter unavailable; request allowed', (err as Error).message);
    }
    if (!success) {
      // The binding does not say when its window ends; a whole period is an upper bound.
      const retryAfter = FINE_TUNE_RATE_PERIOD_SECONDS;
      throw new ApiError(
        429,
        'rate_limited',
        `at most ${FINE_TUNE_RATE_LIMIT} ${what} per ${FINE_TUNE_RATE_PERIOD_SECONDS} s per client; retry in ${retryAfter} s`,
        {
          limit: FINE_TUNE_RATE_LIMIT,
          periodSeconds: FINE_TUNE_RATE_PERIOD_SECONDS,
          retryAfterSeconds: retryAfter,
        },
        { 'Retry-After': String(retryAfter) },
      );
    }
    await next();
  });
}

/** The limit of `/fine-tune`. */
export const fineTuneRateLimit = writeRateLimit('fine-tunes', '');
/** The limit of `/model/rollback`, counted apart from fine-tunes. */
export const rollbackRateLimit = writeRateLimit('rollbacks', '|rollback');
