/**
 * @module
 * How image uploads share an isolate with everything else it serves: one upload's CPU work (decode, blank test,
 * preprocessing) at a time, in short turns with a pause between them, so a JSON `/predict` arriving meanwhile
 * waits for one turn (a few ms) rather than for every upload in flight; and a bounded number of places, taken
 * before a body is read, so that uploads cannot pile up their bodies in memory (40 concurrent 2 MiB forms took
 * workerd from 94 to 347 MB while the bound was checked only after reading). An isolate is one thread: without this, four clients sending
 * the costliest accepted upload back to back kept every other request waiting behind all four (issue #11).
 * Not the per-client rate limit (`rate-limit.ts`).
 */
import { ApiError } from './errors.ts';

/** Uploads that may wait for their turn in one isolate; one more is a 503 `busy` (each holds its body, ≤ 2 MiB). */
export const MAX_WAITING_UPLOADS = 16;

/**
 * Lets every other request of the isolate run what it has ready (a macrotask, so their I/O callbacks come first)
 * before the caller goes on.
 */
export const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

let tail: Promise<void> = Promise.resolve();
/** Uploads running or waiting in this isolate. */
let admitted = 0;
/** Uploads holding a place (`inUploadPlace`): being read, waiting for their turn, or in it. */
let placed = 0;

function busy(): ApiError {
  return new ApiError(
    503,
    'busy',
    `${MAX_WAITING_UPLOADS} image uploads are already waiting here; retry in 1 s`,
    { waiting: MAX_WAITING_UPLOADS, retryAfterSeconds: 1 },
    { 'Retry-After': '1' },
  );
}

/** How many upload places are taken in this isolate (for tests and logs). */
export const uploadsPlaced = (): number => placed;

/**
 * Runs `run` (which reads an upload's body, then takes its turn) holding one of the isolate's
 * `MAX_WAITING_UPLOADS + 1` upload places, so that at most that many bodies are ever held; the check comes before
 * anything is read. Bodies are read concurrently (a slow sender holds a place, not the turn).
 * @throws {ApiError} 503 `busy` with `Retry-After: 1` when every place is taken.
 */
export async function inUploadPlace<T>(run: () => Promise<T>): Promise<T> {
  if (placed > MAX_WAITING_UPLOADS) throw busy();
  placed++;
  try {
    return await run();
  } finally {
    placed--;
  }
}

/**
 * Runs `work` once every upload before it in this isolate is done; `work` should `await pause()` between its
 * CPU-heavy steps.
 * @throws {ApiError} 503 `busy` with `Retry-After: 1` when `MAX_WAITING_UPLOADS` are already waiting.
 */
export async function inUploadTurn<T>(work: () => Promise<T>): Promise<T> {
  // One of the admitted is running (or about to): the rest are waiting.
  if (admitted > MAX_WAITING_UPLOADS) throw busy();
  const before = tail;
  let done!: () => void;
  tail = new Promise((resolve) => (done = resolve));
  admitted++;
  try {
    await before;
    return await work();
  } finally {
    admitted--;
    done();
  }
}
