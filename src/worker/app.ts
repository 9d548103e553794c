/**
 * @module
 * The Hono app: routes with their zod schemas (which also generate `/openapi.json`), each handler inline after
 * its route. Validation first, then one call into the model cache/store and `src/nn`. Not storage, not math.
 */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { createMiddleware } from 'hono/factory';
import { requireToken } from './auth.ts';
import { readConfig, type Bindings } from './config.ts';
import { docsPage } from './docs-page.ts';
import { ApiError, errorBody, handleError } from './errors.ts';
import { fineTune, toPredictions } from './fine-tune.ts';
import { imagePredict, preprocessBatch } from './image-input.ts';
import web from './web.ts';
import { registerFeedbackRoutes } from './writer/routes.ts';
import {
  getCheckSet,
  getServingModel,
  invalidate,
  knownCheckAccuracy,
  loadModel,
  rememberCheckAccuracy,
  type ServingModel,
} from './model-cache.ts';
import { advancePointer, ModelStore } from './model-store.ts';
import { fineTuneRateLimit, rollbackRateLimit } from './rate-limit.ts';
import {
  ErrorResponse,
  FineTuneRequest,
  FineTuneResponse,
  flatImage,
  Health,
  type Image,
  ModelInfo,
  PredictRequest,
  PredictResponse,
  RollbackRequest,
  RollbackResponse,
} from './schemas.ts';

/** Bodies above these sizes are refused with 413 before they are parsed. */
export const MAX_PREDICT_BODY = 4 * 1024 * 1024;
export const MAX_FINE_TUNE_BODY = 4 * 1024 * 1024;
export const MAX_SMALL_BODY = 4 * 1024;
/** Lost compare-and-swap races a fine-tune retries on the new weights before answering 409. */
export const FINE_TUNE_ATTEMPTS = 3;

type AppEnv = { Bindings: Bindings };

const app = new OpenAPIHono<AppEnv>({
  defaultHook: (result) => {
    if (!result.success) {
      const issues = result.error.issues.slice(0, 20).map((i) => ({
        path: i.path.join('.'),
        message: i.message,
        code: i.code,
      }));
      const first = issues[0];
      const message = first ? `${first.path || 'body'}: ${first.message}` : 'invalid request';
      throw new ApiError(400, 'validation_error', message, { issues, total: result.error.issues.length });
    }
  },
});

app.onError(handleError);
app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));

/** JSON-only, size-bounded bodies: 415 for another content type, 413 past `maxSize`. */
function jsonBody(maxSize: number) {
  const limit = bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, 'body_too_large', `the request body exceeds ${maxSize} bytes`, {
        maxBytes: maxSize,
      });
    },
  });
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const type = (c.req.header('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      throw new ApiError(
        415,
        'unsupported_media_type',
        'send the body as JSON with `Content-Type: application/json`',
        {
          contentType: type || null,
        },
      );
    }
    return limit(c, next);
  });
}

app.use(
  '/predict',
  cors({
    origin: (origin, c) => {
      const allowed = readConfig(c.env).corsOrigins;
      if (allowed.includes('*')) return '*';
      return allowed.includes(origin) ? origin : null;
    },
    allowMethods: ['POST', 'OPTIONS'],
    allowHeaders: ['Content-Type'],
    exposeHeaders: ['X-Model-Version'],
    maxAge: 600,
  }),
);
// Image uploads (PNG body, multipart form) are answered here; JSON goes on to the route below.
app.use('/predict', imagePredict);
app.use('/predict', jsonBody(MAX_PREDICT_BODY));
app.use('/fine-tune', fineTuneRateLimit, requireToken, jsonBody(MAX_FINE_TUNE_BODY));
app.use('/model/rollback', rollbackRateLimit, requireToken, jsonBody(MAX_SMALL_BODY));

function storeOf(env: Bindings): ModelStore {
  return new ModelStore(env.MODELS, readConfig(env).prefix);
}

/** Packs images into the network's input, [n×784] in [0,1]. */
function toInput(images: z.infer<typeof Image>[], scale: '0-255' | '0-1'): Float32Array {
  const divisor = scale === '0-255' ? 255 : 1;
  const x = new Float32Array(images.length * 784);
  images.forEach((image, i) => {
    const flat = flatImage(image);
    for (let j = 0; j < 784; j++) x[i * 784 + j] = flat[j] / divisor;
  });
  return x;
}

function staleHeaders(serving: ServingModel, stale: ApiError | null): Record<string, string> {
  const headers: Record<string, string> = { 'X-Model-Version': serving.version };
  if (stale) headers['X-Model-Stale'] = stale.code;
  return headers;
}

const jsonError = (description: string) => ({
  content: { 'application/json': { schema: ErrorResponse } },
  description,
});
const bearer = [{ bearer: [] }];

app.openapi(
  createRoute({
    method: 'get',
    path: '/health',
    summary: 'Liveness and the model that would answer',
    responses: {
      200: { content: { 'application/json': { schema: Health } }, description: 'A model is loaded' },
      503: jsonError('No model can be served'),
    },
  }),
  async (c) => {
    const { serving, stale } = await getServingModel(storeOf(c.env), readConfig(c.env).revalidateMs);
    return c.json(
      {
        status: stale ? ('degraded' as const) : ('ok' as const),
        modelVersion: serving.version,
        stale: stale?.message ?? null,
      },
      200,
    );
  },
);

app.openapi(
  createRoute({
    method: 'post',
    path: '/predict',
    summary: 'Classify one image or a batch',
    request: { body: { content: { 'application/json': { schema: PredictRequest } }, required: true } },
    responses: {
      200: { content: { 'application/json': { schema: PredictResponse } }, description: 'Predictions' },
      400: jsonError('Invalid request'),
      413: jsonError('Body too large'),
      415: jsonError('Not JSON'),
      503: jsonError('No model can be served'),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const cfg = readConfig(c.env);
    const images = body.image ? [body.image] : body.images!;
    if (images.length > cfg.predictMaxBatch) {
      throw new ApiError(400, 'limit_exceeded', `at most ${cfg.predictMaxBatch} images per request`, {
        max: cfg.predictMaxBatch,
        got: images.length,
      });
    }
    const { serving, stale } = await getServingModel(storeOf(c.env), cfg.revalidateMs);
    const x = toInput(images, body.pixelScale);
    if (body.preprocess) preprocessBatch(x, images.length);
    const predictions = toPredictions(serving.predictor.predict(x, images.length), images.length);
    const headers = staleHeaders(serving, stale);
    if (body.image) return c.json({ ...predictions[0], modelVersion: serving.version }, 200, headers);
    return c.json({ modelVersion: serving.version, predictions }, 200, headers);
  },
);

app.openapi(
  createRoute({
    method: 'post',
    path: '/fine-tune',
    summary: 'SGD on the current weights; saved as a new version unless refused by the guard or a dry run',
    security: bearer,
    request: { body: { content: { 'application/json': { schema: FineTuneRequest } }, required: true } },
    responses: {
      200: { content: { 'application/json': { schema: FineTuneResponse } }, description: 'Fine-tuned' },
      400: jsonError('Invalid request or over a limit'),
      401: jsonError('Missing or wrong bearer token'),
      403: jsonError('Fine-tuning is disabled (no token configured)'),
      409: jsonError('Lost the race to move the pointer too many times'),
      413: jsonError('Body too large'),
      415: jsonError('Not JSON'),
      422: jsonError('Refused by the guard: check-set accuracy fell by more than the margin'),
      429: jsonError('Too many fine-tunes from this client; see Retry-After'),
      503: jsonError('The current model or its check set cannot be read'),
    },
  }),
  async (c) => {
    const body = c.req.valid('json');
    const cfg = readConfig(c.env);
    const n = body.examples.length;
    const over: string[] = [];
    if (n > cfg.fineTuneMaxExamples) over.push(`at most ${cfg.fineTuneMaxExamples} examples`);
    if (body.steps > cfg.fineTuneMaxSteps) over.push(`at most ${cfg.fineTuneMaxSteps} steps`);
    if (n * body.steps > cfg.fineTuneMaxWork) over.push(`examples × steps at most ${cfg.fineTuneMaxWork}`);
    if (over.length) {
      throw new ApiError(400, 'limit_exceeded', `fine-tune too large: ${over.join('; ')}`, {
        examples: n,
        steps: body.steps,
        maxExamples: cfg.fineTuneMaxExamples,
        maxSteps: cfg.fineTuneMaxSteps,
        maxWork: cfg.fineTuneMaxWork,
      });
    }
    const x = toInput(
      body.examples.map((e) => e.image),
      body.pixelScale,
    );
    const labels = Uint8Array.from(body.examples, (e) => e.label);
    const settings = { steps: body.steps, learningRate: body.learningRate, l1: body.l1, l2: body.l2 };
    const store = storeOf(c.env);

    for (let attempt = 1; attempt <= FINE_TUNE_ATTEMPTS; attempt++) {
      const read = await store.readPointer();
      if (!read) throw new ApiError(503, 'no_model', 'no model has been published to this store yet');
      const parent = await loadModel(store, read.pointer.current);
      const meta = parent.model.metadata;
      const checkSetName = typeof meta.checkSet === 'string' ? meta.checkSet : null;
      const checkSet = checkSetName ? await getCheckSet(store, checkSetName) : null;
      const { bytes, before, after, check } = fineTune({
        parent: parent.model,
        parentVersion: parent.version,
        x,
        labels,
        count: n,
        settings,
        checkSet,
        parentCheckAccuracy: knownCheckAccuracy(store.prefix, parent.version),
      });
      let guard: z.infer<typeof FineTuneResponse>['guard'] = null;
      if (check && checkSet && checkSetName) {
        rememberCheckAccuracy(store.prefix, parent.version, check.parent);
        guard = {
          checkSet: checkSetName,
          size: checkSet.count,
          parentAccuracy: check.parent,
          accuracy: check.child,
          maxDrop: cfg.guardMaxDrop,
          // A small epsilon so a drop of exactly the margin passes despite float rounding.
          passed: check.parent - check.child <= cfg.guardMaxDrop + 1e-9,
        };
        if (!guard.passed) {
          throw new ApiError(
            422,
            'guard_refused',
            `the fine-tune lowers check-set accuracy from ${check.parent.toFixed(4)} to ${check.child.toFixed(4)}, ` +
              `more than the allowed ${cfg.guardMaxDrop}; nothing was saved`,
            { guard, before, after, parentVersion: parent.version },
          );
        }
      }
      const answer = {
        dryRun: body.dryRun,
        version: null as string | null,
        parentVersion: parent.version,
        examples: n,
        steps: body.steps,
        before,
        after,
        guard,
        attempts: attempt,
      };
      if (body.dryRun) return c.json(answer, 200);

      const version = await store.putVersion(bytes, { source: 'fine-tune', parent: parent.version });
      const next = advancePointer(read.pointer, version, parent.version, 'fine-tune');
      const swapped = await store.pointOrDelete(version, () => store.swapPointer(read.etag, next));
      if (swapped !== null) {
        invalidate(store.prefix);
        if (check) rememberCheckAccuracy(store.prefix, version, check.child);
        return c.json({ ...answer, version }, 200);
      }
      // Another writer moved the pointer since we read it: drop our blob and retrain on the new weights.
      await store.deleteVersion(version);
    }
    throw new ApiError(
      409,
      'conflict',
      `the model changed during ${FINE_TUNE_ATTEMPTS} attempts; retry later`,
    );
  },
);

app.openapi(
  createRoute({
    method: 'get',
    path: '/model',
    summary: 'The serving model and the recent version history',
    responses: {
      200: { content: { 'application/json': { schema: ModelInfo } }, description: 'Model metadata' },
      503: jsonError('No model can be served'),
    },
  }),
  async (c) => {
    const { serving, pointer, stale } = await getServingModel(storeOf(c.env), readConfig(c.env).revalidateMs);
    const { model } = serving;
    const meta = model.metadata;
    const num = (v: unknown) => (typeof v === 'number' ? v : null);
    return c.json(
      {
        version: serving.version,
        sizes: model.sizes,
        // Stored as float32: print its shortest float32 decimal (0.01, not 0.009999999776482582).
        alpha: Number(model.alpha.toPrecision(7)),
        encoding: model.encoding,
        parameters: model.params.length,
        blobBytes: serving.blobBytes,
        createdAt: typeof meta.createdAt === 'string' ? meta.createdAt : null,
        parentVersion: typeof meta.parentVersion === 'string' ? meta.parentVersion : null,
        accuracy: { test: num(meta.testAccuracy), validation: num(meta.validationAccuracy) },
        checkSet: typeof meta.checkSet === 'string' ? meta.checkSet : null,
        metadata: meta as Record<string, unknown>,
        history: pointer.history,
        stale: stale ? { code: stale.code, message: stale.message, details: stale.details } : null,
      },
      200,
      staleHeaders(serving, stale),
    );
  },
);

app.openapi(
  createRoute({
    method: 'post',
    path: '/model/rollback',
    summary: 'Make an earlier stored version current',
    security: bearer,
    request: { body: { content: { 'application/json': { schema: RollbackRequest } }, required: true } },
    responses: {
      200: { content: { 'application/json': { schema: RollbackResponse } }, description: 'Rolled back' },
      400: jsonError('Invalid request'),
      401: jsonError('Missing or wrong bearer token'),
      403: jsonError('Disabled (no token configured)'),
      404: jsonError('No such version'),
      422: jsonError('The version exists but cannot be served'),
      429: jsonError('Too many rollbacks from this client; see Retry-After'),
    },
  }),
  async (c) => {
    const { version } = c.req.valid('json');
    const store = storeOf(c.env);
    if (!(await store.hasVersion(version))) {
      throw new ApiError(404, 'version_not_found', `no stored model version ${version}`, { version });
    }
    try {
      await loadModel(store, version);
    } catch (err) {
      if (err instanceof ApiError) throw new ApiError(422, 'version_unusable', err.message, err.details);
      throw err;
    }
    const pointer = await store.makeCurrent(version, 'rollback');
    invalidate(store.prefix);
    return c.json({ version, previousVersion: pointer.history[0].parent, history: pointer.history }, 200);
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
