/**
 * @module
 * The route table: each route's zod schemas (which also generate `/openapi.json`), its middleware, and a handler
 * that validates, makes one call, and answers. The workflows live in named modules: `predict.ts`, `model-info.ts`;
 * every write (`/fine-tune`: `lineage-workflow.ts`, `/model/rollback`: `rollback.ts`) is one call to the lineage's
 * model writer (`writer/model-writer.ts`), which runs them one at a time. Not storage, not math.
 */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { requireToken } from './auth.ts';
import { jsonBody, predictBody, type BodyVariables } from './body.ts';
import { readConfig, type Bindings } from './config.ts';
import { corsJson, publicCors, type CorsVariables } from './cors.ts';
import { docsPage } from './docs-page.ts';
import { errorBody, handleError, validationHook } from './errors.ts';
import { withBoundedExamples, withFastPath, withFastQuery } from './fast-predict-request.ts';
import type { LineageAnswer } from './lineage-workflow.ts';
import { getServingModel, invalidate } from './model-cache.ts';
import { describeServing } from './model-info.ts';
import { ModelStore } from './model-store.ts';
import { imageInput, jsonInput, predict, toInput } from './predict.ts';
import { fineTuneRateLimit, rollbackRateLimit, uploadRateLimit } from './rate-limit.ts';
import { FineTuneRequest, LineageFineTuneResponse } from './fine-tune-schemas.ts';
import {
  ErrorResponse,
  Health,
  ModelInfo,
  MULTIPART_BODY,
  PNG_BODY,
  PredictQuery,
  PredictRequest,
  PredictResponse,
  RollbackRequest,
  RollbackResponse,
} from './schemas.ts';
import web from './web.ts';
import { unwrap, type WriterResult } from './writer/model-writer.ts';
import { registerFeedbackRoutes, writerContext } from './writer/routes.ts';
import { callWriter } from './writer/settings.ts';

/** JSON bodies above these sizes are refused with 413 before they are parsed (uploads: `MAX_IMAGE_BODY`). */
export const MAX_PREDICT_BODY = 4 * 1024 * 1024;
export const MAX_FINE_TUNE_BODY = 4 * 1024 * 1024;
export const MAX_SMALL_BODY = 4 * 1024;

type AppEnv = { Bindings: Bindings; Variables: BodyVariables & CorsVariables };
type PredictBody = z.output<typeof PredictRequest>;

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
app.onError(handleError);
app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));

const storeOf = (env: Bindings) => new ModelStore(env.MODELS, readConfig(env).prefix);
const jsonError = (description: string) => ({
  content: { 'application/json': { schema: ErrorResponse } },
  description,
});
const json = <T>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});
const bearer = [{ bearer: [] }];

app.use('/predict', publicCors(['X-Model-Version']));

app.openapi(
  createRoute({
    method: 'get',
    path: '/health',
    summary: 'Liveness and the model that would answer',
    responses: { 200: json(Health, 'A model is loaded'), 503: jsonError('No model can be served') },
  }),
  async (c) => {
    const { serving, stale } = await getServingModel(storeOf(c.env), readConfig(c.env).revalidateMs);
    const status = stale ? ('degraded' as const) : ('ok' as const);
    return c.json({ status, modelVersion: serving.version, stale: stale?.message ?? null }, 200);
  },
);

app.openapi(
  createRoute({
    method: 'post',
    path: '/predict',
    summary: 'Classify one image or a batch: JSON pixels, a PNG body, or a form with a PNG file',
    middleware: [uploadRateLimit, predictBody(MAX_PREDICT_BODY)] as const,
    request: {
      query: withFastQuery(PredictQuery),
      body: {
        // Not `required`: that would make the JSON validator run on PNG bodies. predictBody refuses an empty body.
        content: {
          // zod behind the hand-checked common body (same answers, ~15 µs less per image in workerd).
          'application/json': { schema: withFastPath(PredictRequest) },
          'image/png': PNG_BODY,
          'multipart/form-data': MULTIPART_BODY,
        },
      },
    },
    responses: {
      200: json(PredictResponse, 'Predictions'),
      400: jsonError('Invalid request, broken PNG or form'),
      413: jsonError('Body too large (4 MiB JSON, 2 MiB upload) or image too large'),
      429: jsonError('Too many image uploads from this client; see Retry-After (JSON is not limited)'),
      415: jsonError('Not JSON, PNG or multipart; or the upload is not a PNG'),
      404: jsonError('`?version=` names no stored version'),
      422: jsonError('With preprocessing: an image without ink; or `?version=` names an unservable version'),
      503: jsonError(
        'No model can be served; or `busy`: 16 image uploads already wait here, or two other `?version=`s are ' +
          'loading (see Retry-After)',
      ),
    },
  }),
  async (c) => {
    const cfg = readConfig(c.env);
    const upload = c.get('upload');
    // Typed by hand: the route's types only see `json` when every body schema is zod, and the PNG ones are not.
    const input = upload
      ? await imageInput(upload)
      : jsonInput(c.req.valid('json' as never) as PredictBody, cfg);
    const store = new ModelStore(c.env.MODELS, cfg.prefix);
    const { body, headers } = await predict(store, cfg, input, c.req.query('version'));
    // `c.json(body, 200, headers)` with publicCors's headers in it from the start (`corsJson`).
    return corsJson(c.get('corsHeaders'), body, headers) as never;
  },
);

app.use('/fine-tune', requireToken, fineTuneRateLimit, jsonBody(MAX_FINE_TUNE_BODY));
app.openapi(
  createRoute({
    method: 'post',
    path: '/fine-tune',
    summary: 'SGD on the current weights; saved as a new version unless refused by the guard or a dry run',
    security: bearer,
    request: {
      body: {
        content: { 'application/json': { schema: withBoundedExamples(FineTuneRequest) } },
        required: true,
      },
    },
    responses: {
      200: json(LineageFineTuneResponse, 'Fine-tuned'),
      400: jsonError('Invalid request or over a limit'),
      401: jsonError('Missing or wrong bearer token'),
      403: jsonError('Fine-tuning is disabled (no token configured)'),
      409: jsonError('Lost the race to a writer outside the model writer (the publish script) 3 times'),
      413: jsonError('Body too large'),
      415: jsonError('Not JSON'),
      422: jsonError('`training_diverged` (the loss stopped being finite) or `guard_refused`; nothing saved'),
      429: jsonError('Too many fine-tunes from this client; see Retry-After'),
      503: jsonError(
        'The current model or its check set cannot be read; or `writer_unavailable` (see Retry-After)',
      ),
    },
  }),
  async (c) => {
    const { examples, pixelScale, dryRun, ...ask } = c.req.valid('json');
    // Through the lineage's model writer: fine-tunes run one at a time, so none loses a race or is retrained.
    const ctx = writerContext(c.env);
    const job = {
      x: toInput(
        examples.map((e) => e.image),
        pixelScale,
      ),
      labels: Uint8Array.from(examples, (e) => e.label),
      count: examples.length,
      ask,
      dryRun,
    };
    const result = await callWriter(c.env, ctx.config.prefix, (writer) => writer.fineTune(ctx, job));
    const answer = unwrap(result as WriterResult<LineageAnswer>);
    if (answer.version) invalidate(ctx.config.prefix);
    return c.json(answer, 200);
  },
);

app.openapi(
  createRoute({
    method: 'get',
    path: '/model',
    summary: 'The serving model and the recent version history',
    responses: { 200: json(ModelInfo, 'Model metadata'), 503: jsonError('No model can be served') },
  }),
  async (c) => {
    const info = await getServingModel(storeOf(c.env), readConfig(c.env).revalidateMs);
    const headers: Record<string, string> = { 'X-Model-Version': info.serving.version };
    if (info.stale) headers['X-Model-Stale'] = info.stale.code;
    return c.json(describeServing(info), 200, headers);
  },
);

app.use('/model/rollback', requireToken, rollbackRateLimit, jsonBody(MAX_SMALL_BODY));
app.openapi(
  createRoute({
    method: 'post',
    path: '/model/rollback',
    summary: 'Make an earlier stored version current',
    security: bearer,
    request: { body: { content: { 'application/json': { schema: RollbackRequest } }, required: true } },
    responses: {
      200: json(RollbackResponse, 'Rolled back'),
      400: jsonError('Invalid request'),
      401: jsonError('Missing or wrong bearer token'),
      403: jsonError('Disabled (no token configured)'),
      404: jsonError('No such version'),
      409: jsonError(
        '`already_current`: the version is current already; or lost the race to the publish script',
      ),
      413: jsonError('Body too large (4 KiB)'),
      415: jsonError('Not JSON'),
      422: jsonError('The version exists but cannot be served; nothing changed'),
      429: jsonError('Too many rollbacks, or refused tokens, from this client; see Retry-After'),
      503: jsonError('`writer_unavailable`: the model writer failed under the request (see Retry-After)'),
    },
  }),
  async (c) => {
    const ctx = writerContext(c.env);
    const { version } = c.req.valid('json');
    const outcome = unwrap(
      await callWriter(c.env, ctx.config.prefix, (writer) => writer.rollback(ctx, version)),
    );
    invalidate(ctx.config.prefix);
    return c.json(outcome, 200);
  },
);

app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
app.doc31('/openapi.json', {
  openapi: '3.1.0',
  info: {
    title: 'edge-mlp',
    version: '0.1.0',
    description:
      'An MNIST MLP served and fine-tuned on Cloudflare Workers. Every error is `{ error: { code, message, details } }`.',
  },
});
registerFeedbackRoutes(app);
app.get('/docs', (c) => c.html(docsPage()));
app.route('/', web);

export default app;
