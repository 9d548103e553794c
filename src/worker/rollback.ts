/**
 * @module
 * `/model/rollback`'s workflow: the version must exist and pass the same "can this blob be served" check as
 * publish and the model cache (`servable.ts`) before the pointer moves; then this isolate revalidates. Not HTTP.
 */
import { ApiError } from './errors.ts';
import { invalidate } from './model-cache.ts';
import type { HistoryEntry, ModelStore } from './model-store.ts';
import { checkServable, UnservableError } from './servable.ts';

export interface RollbackOutcome {
  version: string;
  previousVersion: string | null;
  history: HistoryEntry[];
}

/**
 * Makes the stored `version` current.
 * @throws {ApiError} 404 `version_not_found`; 422 `version_unusable` when it does not decode or cannot be served
 *   (nothing is written); {StoreError} 409 `conflict` when the pointer keeps moving.
 */
export async function rollbackTo(store: ModelStore, version: string): Promise<RollbackOutcome> {
  // A head first: an unknown version is a 404 without a download.
  const bytes = (await store.hasVersion(version)) ? await store.getVersion(version) : null;
  if (!bytes) throw new ApiError(404, 'version_not_found', `no stored model version ${version}`, { version });
  try {
    checkServable(bytes);
  } catch (err) {
    if (!(err instanceof UnservableError)) throw err;
    throw new ApiError(422, 'version_unusable', `version ${version} cannot be served: ${err.message}`, {
      version,
      reason: err.reason,
      ...err.details,
    });
  }
  const pointer = await store.makeCurrent(version, 'rollback');
  invalidate(store.prefix);
  return { version, previousVersion: pointer.history[0].parent, history: pointer.history };
}
