/**
 * @module
 * Answers from a named version instead of the current one (`POST /predict?version=ID`), so a caller can compare a
 * fine-tuned child with its parent before trusting it. Versions are immutable, so a few decoded ones are kept.
 * The predictor lives only for the synchronous call it is lent to.
 */
import type { LoadedModel } from './model-cache.ts';
import { ApiError } from './errors.ts';
import { getKernels } from './kernels.ts';
import { loadModel } from './model-cache.ts';
import type { ModelStore } from './model-store.ts';
import { createPredictor, type Predictor } from '../nn/index.ts';

const KEEP = 2;
const decoded = new Map<string, LoadedModel>();

/**
 * Runs `use` with a predictor of `version`, synchronously, and frees it.
 * @throws {ApiError} 404 `version_not_found` for a version the store does not hold, 422 `version_unusable` for one
 *   that is stored but cannot be served (corrupt, or not a 784-…-10 network).
 */
export async function withVersionPredictor<T>(
  store: ModelStore,
  version: string,
  use: (predictor: Predictor, loaded: LoadedModel) => T,
): Promise<T> {
  const key = `${store.prefix}|${version}`;
  let loaded = decoded.get(key);
  if (!loaded) {
    if (!(await store.hasVersion(version))) {
      throw new ApiError(404, 'version_not_found', `no stored model version ${version}`, { version });
    }
    try {
      loaded = await loadModel(store, version);
    } catch (err) {
      if (err instanceof ApiError && err.code !== 'model_store_unavailable') {
        throw new ApiError(422, 'version_unusable', err.message, err.details);
      }
      throw err;
    }
    if (decoded.size >= KEEP) decoded.delete(decoded.keys().next().value!);
    decoded.set(key, loaded);
  }
  const predictor = createPredictor(loaded.model, getKernels());
  try {
    return use(predictor, loaded);
  } finally {
    predictor.dispose();
  }
}
