/**
 * @module
 * Apps that serve `POST /predict` for one JSON image with more and more of the real app's layers, for
 * `bench-workerd-entry.ts` to place Hono's own part of a request (`app` − `handler`): `hono-bare` (plain Hono,
 * the body read and validated by hand, the route's work, `c.json`), `hono-cors` (+ `publicCors`), `hono-limits`
 * (+ the upload rate limit and the body middleware), `openapi` (`@hono/zod-openapi`'s route with the same query
 * and body validators as `app.ts`: the real route's chain, without the app's other routes); and `hono-empty`, a
 * Hono route answering a fixed `c.json`. Every one answers as the real app does for such a body. Bench only.
 */
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { Hono, type Context } from 'hono';
import { predictBody, type BodyVariables } from '../../src/worker/body.ts';
import { readConfig, type Bindings } from '../../src/worker/config.ts';
import { publicCors } from '../../src/worker/cors.ts';
import { handleError, validationHook } from '../../src/worker/errors.ts';
import { jsonInput } from '../../src/worker/json-input.ts';
import { ModelStore } from '../../src/worker/model-store.ts';
import { predict } from '../../src/worker/predict.ts';
import { uploadRateLimit } from '../../src/worker/rate-limit.ts';
import { MULTIPART_BODY, PNG_BODY, PredictQuery, PredictRequest } from '../../src/worker/schemas.ts';

type AppEnv = { Bindings: Bindings; Variables: BodyVariables };
type Body = z.output<typeof PredictRequest>;

/** The route's work after validation, as `app.ts`'s handler does it. */
async function answer(c: Context<AppEnv>, valid: Body): Promise<Response> {
  const cfg = readConfig(c.env);
  const input = jsonInput(valid, cfg);
  const store = new ModelStore(c.env.MODELS, cfg.prefix);
  const { body, headers } = await predict(store, cfg, input, c.req.query('version'));
  return c.json(body as never, 200, headers);
}

/** The body read and validated by hand (the fronted zod schema, as the route's validator calls it). */
async function validated(c: Context<AppEnv>): Promise<Body> {
  const result = await PredictRequest.safeParseAsync(await c.req.json());
  validationHook(result);
  return result.data as Body;
}

const MAX_PREDICT_BODY = 4 * 1024 * 1024;

/** A request handler as the entry calls it. */
type Fetch = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;

export function benchApps(fixed: Record<string, unknown>): Record<string, { fetch: Fetch }> {
  const empty = new Hono();
  empty.post('/predict', (c) => c.json(fixed, 200, { 'X-Model-Version': 'v' }));

  const bare = new Hono<AppEnv>();
  bare.onError(handleError);
  bare.post('/predict', async (c) => answer(c, await validated(c)));

  const cors = new Hono<AppEnv>();
  cors.onError(handleError);
  cors.use('/predict', publicCors(['X-Model-Version']));
  cors.post('/predict', async (c) => answer(c, await validated(c)));

  const limits = new Hono<AppEnv>();
  limits.onError(handleError);
  limits.use('/predict', publicCors(['X-Model-Version']));
  limits.post('/predict', uploadRateLimit, predictBody(MAX_PREDICT_BODY), async (c) =>
    answer(c, await validated(c)),
  );

  // The schemas are already fronted by the hand checks (`app.ts`, imported by the entry, did it).
  const openapi = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  openapi.onError(handleError);
  openapi.use('/predict', publicCors(['X-Model-Version']));
  openapi.openapi(
    createRoute({
      method: 'post',
      path: '/predict',
      middleware: [uploadRateLimit, predictBody(MAX_PREDICT_BODY)] as const,
      request: {
        query: PredictQuery,
        body: {
          content: {
            'application/json': { schema: PredictRequest },
            'image/png': PNG_BODY,
            'multipart/form-data': MULTIPART_BODY,
          },
        },
      },
      responses: { 200: { description: 'Predictions' } },
    }),
    async (c) => answer(c, c.req.valid('json' as never) as Body),
  );
  return { 'hono-empty': empty, 'hono-bare': bare, 'hono-cors': cors, 'hono-limits': limits, openapi };
}
