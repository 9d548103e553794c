/**
 * @module
 * The feedback routes: `POST /feedback` (public, bounded: a correction from a web form, stored as pending),
 * `GET /feedback`, `POST /feedback/drop` and `POST /feedback/apply` (token holders). Thin: validation, then one
 * call to the lineage's model writer. Registered on the main app by `registerFeedbackRoutes(app)`.
 */
import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import { MIN_INK } from '../../data/preprocess.ts';
import { requireToken } from '../auth.ts';
import { publicCors } from '../cors.ts';
import { readConfig, type Bindings } from '../config.ts';
import { ApiError } from '../errors.ts';
import { isImageRequest, type BodyVariables } from '../body.ts';
import { invalidate } from '../model-cache.ts';
import { clientKey } from '../rate-limit.ts';
import { ModelStore } from '../model-store.ts';
import { inUploadPlace } from '../upload-turns.ts';
import { ErrorResponse } from '../schemas.ts';
import { jsonCorrection, readUpload, type Correction } from './correction.ts';
import type { ApplyAnswer, WriterContext, WriterResult } from './model-writer.ts';
import { unwrap } from './model-writer.ts';
import type { FeedbackStatus } from './feedback-store.ts';
import { inkOf } from './policy.ts';
import {
  ApplyRequest,
  ApplyResponse,
  DropRequest,
  DropResponse,
  FeedbackAccepted,
  FeedbackList,
  FeedbackQuery,
  FeedbackRequest,
  FEEDBACK_MULTIPART_BODY,
  FEEDBACK_PNG_BODY,
} from './schemas.ts';
import {
  FEEDBACK_RATE_LIMIT,
  FEEDBACK_RATE_PERIOD_SECONDS,
  MAX_FEEDBACK_BODY,
  readFeedbackSettings,
  callWriter,
} from './settings.ts';

type AppEnv = { Bindings: Bindings; Variables: BodyVariables };
type FeedbackBody = z.output<typeof FeedbackRequest>;
type C = Context<AppEnv>;

export function writerContext(env: Bindings): WriterContext {
  return { config: readConfig(env), feedback: readFeedbackSettings(env) };
}

async function hex(bytes: Uint8Array | string, length = 64): Promise<string> {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0'))
    .join('')
    .slice(0, length);
}

/** Per-client limit on the feedback routes (`FEEDBACK_LIMITER`); fails open like the fine-tune limit. */
function feedbackRateLimit(scope: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const limiter = c.env.FEEDBACK_LIMITER as RateLimit | undefined;
    if (!limiter || c.req.method !== 'POST') return next();
    let success = true;
    try {
      ({ success } = await limiter.limit({ key: clientKey(c.req.raw, readConfig(c.env).prefix) + scope }));
    } catch (err) {
      console.warn('feedback rate limiter unavailable; request allowed', (err as Error).message);
    }
    if (!success) {
      const retryAfter = FEEDBACK_RATE_PERIOD_SECONDS;
      throw new ApiError(
        429,
        'rate_limited',
        `at most ${FEEDBACK_RATE_LIMIT} feedback requests per ${FEEDBACK_RATE_PERIOD_SECONDS} s per client; retry in ${retryAfter} s`,
        {
          limit: FEEDBACK_RATE_LIMIT,
          periodSeconds: FEEDBACK_RATE_PERIOD_SECONDS,
          retryAfterSeconds: retryAfter,
        },
        { 'Retry-After': String(retryAfter) },
      );
    }
    await next();
  });
}

const limitBody = bodyLimit({
  maxSize: MAX_FEEDBACK_BODY,
  onError: () => {
    throw new ApiError(413, 'body_too_large', `the request body exceeds ${MAX_FEEDBACK_BODY} bytes`, {
      maxBytes: MAX_FEEDBACK_BODY,
    });
  },
});

/** JSON, or an upload (PNG body or form): anything else is 415 before it is read. */
const feedbackContentType = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.method !== 'POST') return next();
  const type = (c.req.header('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json' && !isImageRequest(c.req.raw)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'send the correction as JSON, a PNG body (`image/png`, fields in the query) or a multipart/form-data form',
      { contentType: type || null },
    );
  }
  return next();
});

/** Stores one correction through the writer; 201 with its id. */
async function storeCorrection(c: C, correction: Correction) {
  const { x } = correction;
  if (inkOf(x) < MIN_INK) {
    throw new ApiError(422, 'empty_image', 'the image has no ink: nothing to learn from; nothing was stored');
  }
  const pixels = Uint8Array.from(x, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
  const ctx = writerContext(c.env);
  const item = {
    pixels,
    prepared: correction.prepared,
    digest: await hex(pixels),
    label: correction.label,
    predicted: correction.predicted,
    answeredBy: correction.modelVersion,
    client: await hex(clientKey(c.req.raw, ctx.config.prefix), 24),
  };
  const result = await callWriter(c.env, ctx.config.prefix, (writer) => writer.addFeedback(ctx, item));
  const { id } = unwrap(result);
  return c.json(
    { id, status: 'pending' as const, label: correction.label, modelVersion: correction.modelVersion },
    201,
  );
}

/** Uploads are answered here; JSON goes on to the documented route. */
const feedbackUpload = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.method !== 'POST' || !isImageRequest(c.req.raw)) return next();
  const cfg = readConfig(c.env);
  // As /predict's uploads: a place in the isolate's upload queue before the body is read (503 `busy` past it),
  // held while the body is read and decoded, not while the writer stores the correction.
  const store = new ModelStore(c.env.MODELS, cfg.prefix);
  const correction = await inUploadPlace(() => readUpload(c.req, store, cfg));
  return storeCorrection(c, correction);
});

const jsonError = (description: string) => ({
  content: { 'application/json': { schema: ErrorResponse } },
  description,
});
const writerDown = jsonError(
  '`writer_unavailable`: the model writer failed under the request (see Retry-After)',
);
const bearer = [{ bearer: [] }];
const json = <T>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });

export function registerFeedbackRoutes(app: OpenAPIHono<AppEnv>): void {
  // Forms on other origins send corrections too: the same CORS rule as /predict.
  app.use('/feedback', publicCors());
  app.on('POST', '/feedback', feedbackRateLimit('|feedback'), limitBody, feedbackContentType, feedbackUpload);
  app.on('GET', '/feedback', requireToken);
  for (const path of ['/feedback/drop', '/feedback/apply']) {
    app.use(path, requireToken, feedbackRateLimit('|feedback-admin'), limitBody);
  }

  app.openapi(
    createRoute({
      method: 'post',
      path: '/feedback',
      summary: 'Send a correction: stored as pending feedback, never applied by itself',
      description:
        'JSON as below, or an upload as `/predict` takes it: a PNG body (`image/png`, fields in the query string) or ' +
        'a multipart form with an `image` file and `label`, `modelVersion`, `predicted`, `preprocess` fields.',
      request: {
        body: {
          content: {
            'application/json': { schema: FeedbackRequest },
            // Answered by `feedbackUpload` before this route; listed so the document shows every body it takes.
            'image/png': FEEDBACK_PNG_BODY,
            'multipart/form-data': FEEDBACK_MULTIPART_BODY,
          },
          required: true,
        },
      },
      responses: {
        201: {
          content: { 'application/json': { schema: FeedbackAccepted } },
          description: 'Stored as pending',
        },
        400: jsonError('Invalid request'),
        409: jsonError('The same image was already sent'),
        413: jsonError('Body too large'),
        415: jsonError('Not JSON, PNG or a form'),
        422: jsonError('The image has no ink'),
        429: jsonError('Rate limit, or too much pending from this client or for this label'),
        503: jsonError(
          '`writer_unavailable` (see Retry-After); `no_model` when no model is published and the body does not turn `preprocess` off; `busy` when the upload queue is full (see Retry-After)',
        ),
      },
    }),
    async (c) => {
      const cfg = readConfig(c.env);
      const store = new ModelStore(c.env.MODELS, cfg.prefix);
      // Typed by hand: the route's types only see `json` when every body schema is zod, and the upload ones are not.
      const body = c.req.valid('json' as never) as FeedbackBody;
      return storeCorrection(c, await jsonCorrection(body, store, cfg));
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/feedback',
      summary: 'List stored feedback (paged), with counts per status and label and the recent applies',
      security: bearer,
      request: { query: FeedbackQuery },
      responses: {
        200: { content: { 'application/json': { schema: FeedbackList } }, description: 'A page of feedback' },
        400: jsonError('Invalid query'),
        401: jsonError('Missing or wrong bearer token'),
        403: jsonError('Disabled (no token configured)'),
        429: jsonError('Too many refused tokens from this client; see Retry-After'),
        503: writerDown,
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const ctx = writerContext(c.env);
      const query = {
        statuses: [...new Set(q.status.split(','))] as FeedbackStatus[],
        after: q.after,
        limit: q.limit,
        pixels: q.pixels === '1',
      };
      const list = await callWriter(c.env, ctx.config.prefix, (writer) => writer.listFeedback(query));
      const applies = list.applies.map((a) => ({ ...a, detail: JSON.parse(a.detail) as unknown }));
      return c.json({ ...list, applies }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/feedback/drop',
      summary: 'Drop pending or held feedback items (they are never applied; the same image stays refused)',
      security: bearer,
      request: { body: json(DropRequest) },
      responses: {
        200: {
          content: { 'application/json': { schema: DropResponse } },
          description: 'Ids that were dropped',
        },
        400: jsonError('Invalid request'),
        401: jsonError('Missing or wrong bearer token'),
        403: jsonError('Disabled (no token configured)'),
        413: jsonError('Body too large'),
        415: jsonError('Not JSON'),
        429: jsonError('Rate limit (60 a minute per client), or too many refused tokens; see Retry-After'),
        503: jsonError(
          'A crashed write cannot be concluded yet (the store cannot be read); or `writer_unavailable` ' +
            '(see Retry-After)',
        ),
      },
    }),
    async (c) => {
      const { ids } = c.req.valid('json');
      const ctx = writerContext(c.env);
      // Queued behind the writes (an apply under way may have read these items): the answer is what is recorded.
      const dropped = unwrap(
        await callWriter(c.env, ctx.config.prefix, (writer) => writer.dropFeedback(ids)),
      );
      return c.json(dropped, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/feedback/apply',
      summary: 'One guarded fine-tune on the pending feedback, saved as one version',
      security: bearer,
      request: { body: { content: { 'application/json': { schema: ApplyRequest } }, required: false } },
      responses: {
        200: { content: { 'application/json': { schema: ApplyResponse } }, description: 'Applied' },
        400: jsonError('Invalid request'),
        401: jsonError('Missing or wrong bearer token'),
        403: jsonError('Disabled (no token configured)'),
        409: jsonError('`conflict`: lost the race to a writer outside the model writer 3 times'),
        413: jsonError('Body too large'),
        415: jsonError('Not JSON'),
        422: jsonError('Nothing pending, held for review, or refused by the guard (nothing saved)'),
        429: jsonError('Rate limit (60 a minute per client), or too many refused tokens; see Retry-After'),
        503: jsonError(
          'The current model or its check set cannot be read; or `writer_unavailable` (see Retry-After)',
        ),
      },
    }),
    async (c) => {
      const ctx = writerContext(c.env);
      const text = await c.req.text();
      let reviewed = false;
      if (text.trim()) {
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          throw new ApiError(400, 'malformed_json', 'Malformed JSON in request body');
        }
        const parsed = ApplyRequest.safeParse(value);
        if (!parsed.success) {
          const first = parsed.error.issues[0];
          throw new ApiError(400, 'validation_error', `${first.path.join('.') || 'body'}: ${first.message}`);
        }
        reviewed = parsed.data.reviewed;
      }
      const result = (await callWriter(c.env, ctx.config.prefix, (writer) =>
        writer.applyFeedback(ctx, { reviewed }),
      )) as WriterResult<ApplyAnswer>;
      const answer = unwrap(result);
      invalidate(ctx.config.prefix);
      const { indices: _indices, ...review } = answer.review;
      return c.json({ ...answer, review }, 200);
    },
  );
}
