/**
 * @module
 * The worker the browser tests run: the real app with the page, the widget and image uploads mounted the way
 * `app.ts` is to mount them (`app.route('/', web)`; `app.use('/predict', imagePredict)` after its CORS and before
 * its JSON-only check). Kept here so the browser tests do not depend on when that wiring is merged.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import app from '../../src/worker/app.ts';
import type { Bindings } from '../../src/worker/config.ts';
import { handleError } from '../../src/worker/errors.ts';
import { imagePredict } from '../../src/worker/image-input.ts';
import web from '../../src/worker/web.ts';

const root = new Hono<{ Bindings: Bindings }>();
root.onError(handleError);
// The test page runs on another origin; the app's own CORS (allowed origins `*` by default) would do the same.
root.use(
  '/predict',
  cors({ origin: '*', allowMethods: ['POST', 'OPTIONS'], allowHeaders: ['Content-Type'] }),
);
root.use('/predict', imagePredict);
root.route('/', web);
root.route('/', app);

export default root;
