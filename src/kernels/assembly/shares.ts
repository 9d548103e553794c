/**
 * @module
 * Work shares of one product split across threads: each thread takes the next `SHARE_COLS` columns from a
 * counter in shared memory until none is left, so that a thread that runs late leaves its work to the others.
 * The plain builds run one thread and never get a counter; the function still reads sequentially there.
 */

/** Columns per share: one row-sparse panel, four packed 8-column ones, eight int8 4-column blocks. */
export const SHARE_COLS: i32 = 32;

/** Rows per share of the int8 pair-layout layer, which threads split by rows (each row quantized once). */
export const SHARE_ROWS: i32 = 4;

/** The next share's index from the counter at `counter` (an i32, 0 before the call). */
export function takeIndex(counter: usize): i32 {
  if (ASC_FEATURE_THREADS) return atomic.add<i32>(counter, 1);
  const share = load<i32>(counter);
  store<i32>(counter, share + 1);
  return share;
}

/** The first column of the next share of [j0, …). */
export function takeShare(counter: usize, j0: i32): i32 {
  return j0 + takeIndex(counter) * SHARE_COLS;
}
