/**
 * @module
 * The hand-checked fast paths for the common `/predict` JSON body and query, and `withFastPath` /
 * `withFastQuery`, which put them in front of zod in the route's validators. Not the schema itself (`schemas.ts`); zod stays the authority on every refusal.
 */
import type { z } from '@hono/zod-openapi';
import { IMAGE_SIDE, INPUT_SIZE } from '../nn/classify.ts';
import { boundFineTuneBody, boundPredictBody } from './bounded-issues.ts';
import type { FineTuneRequest } from './fine-tune-schemas.ts';
import type { PredictQuery, PredictRequest } from './schemas.ts';

/** The keys a `/predict` JSON body may have besides `image`/`images` (the schema is strict). */
const PREDICT_OPTIONS = new Set(['pixelScale', 'image', 'minConfidence', 'preprocess']);

/**
 * `PredictRequest.parse(value)` for the common body, one `image` of 784 numbers (or 28 rows of 28) and the
 * optional settings, checked by hand loops: null for anything else and for anything zod would refuse, which then
 * goes to zod (its issues are the answer). Accepts exactly what the schema accepts of that shape and returns the
 * same data (the pixels as sent), so the answer is the same either way; in workerd zod runs without its JIT
 * (no `new Function`) and took ~15 µs for the 784 numbers, more than half the network's time.
 */
export function fastPredictRequest(value: unknown): z.infer<typeof PredictRequest> | null {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype)
    return null;
  const body = value as Record<string, unknown>;
  for (const key in body) if (!PREDICT_OPTIONS.has(key)) return null;
  const { pixelScale, image, minConfidence, preprocess } = body;
  if (pixelScale !== undefined && pixelScale !== '0-255' && pixelScale !== '0-1') return null;
  if (
    minConfidence !== undefined &&
    !(typeof minConfidence === 'number' && minConfidence > 0 && minConfidence <= 1)
  )
    return null;
  if (preprocess !== undefined && typeof preprocess !== 'boolean') return null;
  if (!Array.isArray(image)) return null;
  // 784 finite numbers, or 28 rows of 28; the largest decides the inferred scale, the smallest the range check.
  let low = Infinity;
  let high = -Infinity;
  const scan = (row: unknown[]): boolean => {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      if (v < low) low = v;
      if (v > high) high = v;
    }
    return true;
  };
  if (image.length === INPUT_SIZE) {
    if (!scan(image)) return null;
  } else if (image.length === IMAGE_SIDE) {
    for (const row of image) if (!Array.isArray(row) || row.length !== IMAGE_SIDE || !scan(row)) return null;
  } else return null;
  const scale = pixelScale ?? (high > 1 ? '0-255' : '0-1');
  if (!(low >= 0 && high <= (scale === '0-255' ? 255 : 1))) return null;
  const out: Record<string, unknown> = {};
  if (pixelScale !== undefined) out.pixelScale = pixelScale;
  out.image = image;
  if (minConfidence !== undefined) out.minConfidence = minConfidence;
  if (preprocess !== undefined) out.preprocess = preprocess;
  return out as z.infer<typeof PredictRequest>;
}

/**
 * `PredictQuery.parse(value)` for a query whose `version` is absent or a string of 1-100 characters (zod's
 * `.min(1).max(100)` counts `length`): the version alone, as zod strips every other key; null for anything else,
 * which zod answers. zod's query check took ~10 µs per request in workerd, for a query that is almost always empty.
 */
export function fastPredictQuery(value: unknown): z.infer<typeof PredictQuery> | null {
  if (typeof value !== 'object' || value === null) return null;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return null;
  if (!Object.hasOwn(value, 'version')) return {};
  const { version } = value as Record<string, unknown>;
  return typeof version === 'string' && version.length >= 1 && version.length <= 100 ? { version } : null;
}

/** The schemas already fronted, so a second call does not wrap zod twice. */
const fronted = new WeakSet<object>();

/**
 * Makes `schema.safeParseAsync` answer `fast`'s data where it has some, zod's result on `bound(value)` otherwise
 * (in place; `bounded-issues.ts` keeps zod's work on a refused batch small).
 */
function frontWith<T extends z.ZodType>(
  schema: T,
  fast: (value: unknown) => z.output<T> | null,
  bound: (value: unknown) => unknown = (value) => value,
): T {
  if (fronted.has(schema)) return schema;
  const zodSafeParseAsync = schema.safeParseAsync.bind(schema);
  const safeParseAsync: typeof zodSafeParseAsync = (data, params) => {
    const checked = fast(data);
    return checked !== null
      ? Promise.resolve({ success: true as const, data: checked })
      : zodSafeParseAsync(bound(data), params);
  };
  schema.safeParseAsync = safeParseAsync;
  fronted.add(schema);
  return schema;
}

/**
 * Makes `schema.safeParseAsync`, which `@hono/zod-openapi`'s validator calls, take the common body through
 * `fastPredictRequest` first: zod's own result on what that accepts (`test/worker/fast-predict-request.test.ts`);
 * every other body, and every refusal with its issues, is zod's. Changes `schema` in place (the route's OpenAPI
 * document keeps naming the same `PredictRequest`) and returns it, so the route table calls it where it declares
 * the body: `app.ts`, `POST /predict`.
 */
export function withFastPath(schema: typeof PredictRequest): typeof PredictRequest {
  return frontWith(schema, fastPredictRequest, boundPredictBody);
}

/** `/fine-tune`'s body: no fast path, but zod's work on a refused batch bounded (`boundFineTuneBody`). */
export function withBoundedExamples(schema: typeof FineTuneRequest): typeof FineTuneRequest {
  return frontWith(schema, () => null, boundFineTuneBody);
}

/** As `withFastPath`, for `/predict`'s query (`fastPredictQuery`). */
export function withFastQuery(schema: typeof PredictQuery): typeof PredictQuery {
  return frontWith(schema, fastPredictQuery);
}
