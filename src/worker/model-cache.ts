/**
 * @module
 * The isolate's decoded model, kept in module scope and revalidated against R2 with a conditional get at most
 * once per interval, so a fine-tune or upload is served without a redeploy. A bad blob never replaces a good one.
 * Not storage (that is `model-store.ts`) and not routing.
 */
import type { ModelData } from '../format/index.ts';
import { createPredictor, type Predictor } from '../nn/index.ts';
import { decodeCheckSet, type CheckSet } from '../format/check-set.ts';
import { blobCrc32 } from './checksum.ts';
import { ApiError } from './errors.ts';
import { getKernels } from './kernels.ts';
import type { ModelStore, Pointer } from './model-store.ts';
import { checkServable, UnservableError, type UnservableReason } from './servable.ts';

/** A decoded model version. */
export interface LoadedModel {
  version: string;
  model: ModelData;
  /** Size of the stored blob in bytes. */
  blobBytes: number;
}

/**
 * A decoded, ready-to-run model version: the one this isolate serves. Only ever handed to the synchronous
 * callback of `withServingModel`: a newer version replaces and frees its predictor (kernel memory is not garbage
 * collected), which can only happen at an `await`, and the callback has none.
 */
export interface ServingModel extends LoadedModel {
  predictor: Predictor;
}

interface CacheEntry {
  pointerEtag: string | null;
  pointer: Pointer | null;
  serving: ServingModel | null;
  checkedAt: number;
  /** Why the latest pointer could not be served, while an older model still is. */
  error: ApiError | null;
}

/** Keyed by store prefix, so deployments (and tests) sharing an isolate never see each other's models. */
const entries = new Map<string, CacheEntry>();
const checkSets = new Map<string, CheckSet>();
const checkAccuracies = new Map<string, number>();
const CHECK_SET_CACHE = 4;

function storeError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(503, 'model_store_unavailable', `the model store could not be read: ${message}`);
}

/** Statuses of a stored version that cannot be served, as the cache (503) reports it. */
const UNSERVABLE_CODE: Record<UnservableReason, string> = {
  corrupt: 'model_corrupt',
  unsupported: 'model_unsupported',
};

/**
 * Fetches one version and checks it with `checkServable` (the serving one is taken from the cache).
 * @throws {ApiError} 503 `model_missing` when the object is gone, `model_corrupt` when it does not decode,
 *   `model_unsupported` when `src/nn` cannot run it or it is not a 784-…-10 network.
 */
export async function loadModel(store: ModelStore, version: string): Promise<LoadedModel> {
  const cached = entries.get(store.prefix)?.serving;
  if (cached && cached.version === version) {
    return { version, model: cached.model, blobBytes: cached.blobBytes };
  }
  const bytes = await store.getVersion(version);
  if (!bytes) {
    throw new ApiError(
      503,
      'model_missing',
      `model version ${version} is named current but is not in the store`,
      {
        version,
      },
    );
  }
  try {
    // The runtime's native CRC-32 (a cold loop over the blob, JavaScript or wasm, is not fast), and the blob is
    // ours alone: its int8 weights are read in place. Both cut a fresh isolate's first request.
    const model = checkServable(bytes, { crc32: blobCrc32, adopt: true });
    return { version, model, blobBytes: bytes.length };
  } catch (err) {
    if (!(err instanceof UnservableError)) throw err;
    const what = err.reason === 'corrupt' ? 'is corrupt' : 'cannot be served';
    throw new ApiError(503, UNSERVABLE_CODE[err.reason], `model version ${version} ${what}: ${err.message}`, {
      version,
      ...err.details,
    });
  }
}

/** The serving model as `/health` and `/model` describe it: no predictor, so it may be kept across awaits. */
export interface ServingInfo {
  serving: LoadedModel;
  pointer: Pointer;
  /** Set when a newer pointer could not be loaded and this older model answers instead. */
  stale: ApiError | null;
}

/** The entry with a serving model, revalidated with a conditional get on the pointer when the interval passed. */
async function freshEntry(store: ModelStore, revalidateMs: number, now: number): Promise<CacheEntry> {
  let entry = entries.get(store.prefix);
  if (!entry) {
    entry = { pointerEtag: null, pointer: null, serving: null, checkedAt: 0, error: null };
    entries.set(store.prefix, entry);
  }
  if (entry.serving && entry.pointer && now - entry.checkedAt < revalidateMs) return entry;
  try {
    const read = await store.readPointerIfChanged(entry.serving ? entry.pointerEtag : null);
    if (read === null) {
      throw new ApiError(503, 'no_model', 'no model has been published to this store yet', {
        pointerKey: store.pointerKey(),
      });
    }
    if (read !== 'unchanged') {
      const loaded = await loadModel(store, read.pointer.current);
      const old = entry.serving;
      if (old?.version !== loaded.version) {
        entry.serving = { ...loaded, predictor: createPredictor(loaded.model, getKernels()) };
        // Safe: predictors are only used inside withServingModel's synchronous callback, so none is mid-call.
        old?.predictor.dispose();
      }
      entry.pointer = read.pointer;
      entry.pointerEtag = read.etag;
    }
    entry.error = null;
  } catch (err) {
    entry.error = storeError(err);
    if (!entry.serving || !entry.pointer) {
      entry.checkedAt = 0;
      throw entry.error;
    }
    console.warn(
      `serving ${entry.serving.version} while the current model is unavailable`,
      entry.error.message,
    );
  }
  entry.checkedAt = now;
  return entry;
}

/**
 * The model that would answer now, described (no predictor): the cached one while fresh, else revalidated.
 * @throws {ApiError} 503 when no model has ever loaded in this isolate and the current one cannot be.
 */
export async function getServingModel(
  store: ModelStore,
  revalidateMs: number,
  now = Date.now(),
): Promise<ServingInfo> {
  const entry = await freshEntry(store, revalidateMs, now);
  const { version, model, blobBytes } = entry.serving!;
  return { serving: { version, model, blobBytes }, pointer: entry.pointer!, stale: entry.error };
}

/** A callback result that is not a promise: the serving model must not be held across an `await`. */
type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

/**
 * Runs `use` on the serving model, synchronously, right after revalidating: the only way to reach a predictor.
 * Nothing can free it while `use` runs (no `await` inside), and `use` cannot keep it: an async callback is a type
 * error and is refused at run time too.
 * @throws {ApiError} 503 when no model can be served; whatever `use` throws.
 */
export async function withServingModel<T>(
  store: ModelStore,
  revalidateMs: number,
  use: (serving: ServingModel, stale: ApiError | null) => NotPromise<T>,
  now = Date.now(),
): Promise<T> {
  const entry = await freshEntry(store, revalidateMs, now);
  const result = use(entry.serving!, entry.error);
  if (result !== null && typeof (result as { then?: unknown })?.then === 'function') {
    throw new TypeError('withServingModel: the callback must be synchronous (it returned a promise)');
  }
  return result;
}

/** Forces the next request to revalidate, e.g. right after this isolate moved the pointer. */
export function invalidate(prefix: string): void {
  const entry = entries.get(prefix);
  if (entry) entry.checkedAt = 0;
}

/** Forgets every cached model (tests). */
export function resetModelCache(): void {
  for (const entry of entries.values()) entry.serving?.predictor.dispose();
  entries.clear();
  checkSets.clear();
  checkAccuracies.clear();
}

/**
 * The decoded check set named by a model's metadata, cached per isolate (check sets are immutable).
 * @throws {ApiError} 503 `check_set_missing` or `check_set_corrupt`: the guard cannot run, so nothing is saved.
 */
export async function getCheckSet(store: ModelStore, relative: string): Promise<CheckSet> {
  const key = store.checkSetKey(relative);
  const hit = checkSets.get(key);
  if (hit) return hit;
  const bytes = await store.getCheckSet(relative);
  if (!bytes) {
    throw new ApiError(503, 'check_set_missing', `the model's check set ${relative} is not in the store`, {
      key,
    });
  }
  let set: CheckSet;
  try {
    set = decodeCheckSet(bytes);
  } catch (err) {
    throw new ApiError(
      503,
      'check_set_corrupt',
      `the model's check set ${relative} is corrupt: ${(err as Error).message}`,
      { key },
    );
  }
  if (checkSets.size >= CHECK_SET_CACHE) checkSets.clear();
  checkSets.set(key, set);
  return set;
}

/** The check-set accuracy of a stored version, if this isolate measured it (versions are immutable). */
export function knownCheckAccuracy(prefix: string, version: string): number | undefined {
  return checkAccuracies.get(`${prefix}|${version}`);
}

export function rememberCheckAccuracy(prefix: string, version: string, accuracy: number): void {
  if (checkAccuracies.size > 64) checkAccuracies.clear();
  checkAccuracies.set(`${prefix}|${version}`, accuracy);
}
