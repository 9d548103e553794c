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
/** Loads under way, one per version: concurrent requests for a version share its download and decoding. */
const loading = new Map<string, Promise<LoadedModel>>();
/** Versions loading at once in an isolate (each holds its blob and decoded weights, ~3 MB for the default). */
export const MAX_PINNED_LOADS = 2;

/**
 * Runs `use` with a predictor of `version`, synchronously, and frees it.
 * @throws {ApiError} 404 `version_not_found` for a version the store does not hold, 422 `version_unusable` for one
 *   that is stored but cannot be served (corrupt, or not a 784-…-10 network), 503 `busy` (`Retry-After: 1`) when
 *   `MAX_PINNED_LOADS` other versions are already being loaded here.
 */
export async function withVersionPredictor<T>(
  store: ModelStore,
  version: string,
  use: (predictor: Predictor, loaded: LoadedModel) => T,
): Promise<T> {
  const loaded = await decodedVersion(store, version);
  const predictor = createPredictor(loaded.model, getKernels());
  try {
    return use(predictor, loaded);
  } finally {
    predictor.dispose();
  }
}

/**
 * `version` decoded: kept, already loading (shared), or loaded now if fewer than `MAX_PINNED_LOADS` are. Whether
 * it is stored is asked before a place is taken, so requests for versions that do not exist cost one R2 lookup
 * each and never hold a place a stored version's request needs.
 */
async function decodedVersion(store: ModelStore, version: string): Promise<LoadedModel> {
  const key = `${store.prefix}|${version}`;
  const ready = () => decoded.get(key) ?? loading.get(key);
  const early = ready();
  if (early) return early;
  if (!(await store.hasVersion(version))) {
    throw new ApiError(404, 'version_not_found', `no stored model version ${version}`, { version });
  }
  // Another request may have started (or finished) this version's load during the lookup.
  const late = ready();
  if (late) return late;
  if (loading.size >= MAX_PINNED_LOADS) {
    throw new ApiError(
      503,
      'busy',
      `${MAX_PINNED_LOADS} other model versions are being loaded here; retry in 1 s`,
      { loading: MAX_PINNED_LOADS, retryAfterSeconds: 1 },
      { 'Retry-After': '1' },
    );
  }
  const pending = loadVersion(store, version, key).finally(() => loading.delete(key));
  loading.set(key, pending);
  return pending;
}

async function loadVersion(store: ModelStore, version: string, key: string): Promise<LoadedModel> {
  let loaded: LoadedModel;
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
  return loaded;
}
