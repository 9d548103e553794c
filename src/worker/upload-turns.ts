/**
 * @module
 * How image uploads share an isolate with everything else it serves: one upload's CPU work (decode, blank test,
 * preprocessing) at a time, in short turns with a pause between them, so a JSON `/predict` arriving meanwhile
 * waits for one turn (a few ms) rather than for every upload in flight; and a bounded queue, so that waiting
 * uploads cannot pile up their bodies in memory. An isolate is one thread: without this, four clients sending
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

/**
 * Runs `work` once every upload before it in this isolate is done; `work` should `await pause()` between its
 * CPU-heavy steps.
 * @throws {ApiError} 503 `busy` with `Retry-After: 1` when `MAX_WAITING_UPLOADS` are already waiting.
 */
export async function inUploadTurn<T>(work: () => Promise<T>): Promise<T> {
  // One of the admitted is running (or about to): the rest are waiting.
  if (admitted > MAX_WAITING_UPLOADS) {
    throw new ApiError(
      503,
      'busy',
      `${MAX_WAITING_UPLOADS} image uploads are already waiting here; retry in 1 s`,
      { waiting: MAX_WAITING_UPLOADS, retryAfterSeconds: 1 },
      { 'Retry-After': '1' },
    );
  }
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
