/**
 * @module
 * The one error shape of the API, `{ "error": { "code", "message", "details" } }`, and the `onError` handler
 * that turns every thrown error into it. Not where errors are decided: routes and the store throw `ApiError`.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { StoreError } from './model-store.ts';

/** The JSON body of every 4xx/5xx answer. */
export interface ErrorBody {
  error: { code: string; message: string; details: unknown };
}

/** A client or availability error with a stable machine-readable `code`; `onError` renders it as JSON. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Builds the error body; exported so middleware that answers directly (body limit, 404) uses the same shape. */
export function errorBody(code: string, message: string, details: unknown = null): ErrorBody {
  return { error: { code, message, details } };
}

/** The shape of a failed zod validation, as `@hono/zod-openapi` hands it to the default hook. */
interface ValidationResult {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string; code: string }[] };
}

/** Issues listed in a validation error (the rest are counted in `total`), and the longest text of each. */
export const MAX_LISTED_ISSUES = 20;
export const MAX_ISSUE_TEXT = 200;

/** `text` cut to `max` characters, saying how much was left out (e.g. zod lists every unknown key). */
export function capText(text: string, max = MAX_ISSUE_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/**
 * The app's `defaultHook`: a failed validation becomes 400 `validation_error` naming the first issue, with the
 * first `MAX_LISTED_ISSUES` issues (each text capped) and the `total`: the answer stays small whatever the body.
 */
export function validationHook(result: ValidationResult): void {
  if (result.success || !result.error) return;
  const all = result.error.issues;
  const issues = all.slice(0, MAX_LISTED_ISSUES).map((i) => ({
    path: capText(i.path.map(String).join('.')),
    message: capText(i.message),
    code: i.code,
  }));
  const first = issues[0];
  const message = first ? `${first.path || 'body'}: ${first.message}` : 'invalid request';
  throw new ApiError(400, 'validation_error', message, { issues, total: all.length });
}

/** `app.onError`: known errors keep their status; anything else is logged and answered as a generic 500. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    // Hono's own validators throw these, e.g. "Malformed JSON in request body".
    if (err.status === 415) {
      // zod-openapi's media-type gate is stricter than the body middleware (`application/json ; charset=utf-8`).
      const type = c.req.header('Content-Type') ?? null;
      const message =
        'send the body with a plain `Content-Type` (`application/json`, `image/png` or `multipart/form-data; boundary=…`)';
      return c.json(errorBody('unsupported_media_type', message, { contentType: type }), 415);
    }
    const code = err.status === 400 && /json/i.test(err.message) ? 'malformed_json' : 'http_error';
    return c.json(errorBody(code, err.message || 'Request failed'), err.status);
  }
  if (err instanceof StoreError) {
    const status = err.code === 'conflict' || err.code === 'already_current' ? 409 : 503;
    return c.json(errorBody(err.code, err.message), status);
  }
  console.error('unhandled error', err);
  return c.json(errorBody('internal_error', 'Internal error; the request was not applied'), 500);
}
