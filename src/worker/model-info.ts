/**
 * @module
 * `GET /model`'s answer: the serving model's shape, figures and metadata, the pointer's history, and why an
 * older version answers if it does. Reads the cache; no predictor is touched.
 */
import type { z } from '@hono/zod-openapi';
import { paramCount } from '../format/index.ts';
import type { ServingInfo } from './model-cache.ts';
import type { ModelInfo } from './schemas.ts';

const num = (v: unknown) => (typeof v === 'number' ? v : null);
const str = (v: unknown) => (typeof v === 'string' ? v : null);

export function describeServing({ serving, pointer, stale }: ServingInfo): z.infer<typeof ModelInfo> {
  const { model } = serving;
  const meta = model.metadata;
  return {
    version: serving.version,
    sizes: model.sizes,
    // Stored as float32: print its shortest float32 decimal (0.01, not 0.009999999776482582).
    alpha: Number(model.alpha.toPrecision(7)),
    encoding: model.encoding,
    // From the shape: an int8 model's `params` (its float copy) is made only when read, and nothing here needs it.
    parameters: paramCount(model.sizes),
    blobBytes: serving.blobBytes,
    createdAt: str(meta.createdAt),
    parentVersion: str(meta.parentVersion),
    accuracy: { test: num(meta.testAccuracy), validation: num(meta.validationAccuracy) },
    checkSet: str(meta.checkSet),
    metadata: meta as Record<string, unknown>,
    history: pointer.history,
    stale: stale ? { code: stale.code, message: stale.message, details: stale.details } : null,
  };
}
