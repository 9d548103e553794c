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

/**
 * The last columns of a packed product (8-column panels) that go out in shares of `TAIL_SHARE` columns: the
 * thread that finishes first then waits at the join for a quarter of a share instead of up to a whole one.
 */
export const TAIL_COLS: i32 = 64;
export const TAIL_SHARE: i32 = 8;

/** Where the shares of [j0, j1) become `TAIL_SHARE` wide: j0 plus whole shares, at most TAIL_COLS before j1. */
function tailStart(j0: i32, j1: i32): i32 {
  return j0 + ((max(0, j1 - j0 - TAIL_COLS) / SHARE_COLS) | 0) * SHARE_COLS;
}

/** The first column of the next share of [j0, j1) in a packed product: SHARE_COLS wide, then TAIL_SHARE. */
export function takeTailShare(counter: usize, j0: i32, j1: i32): i32 {
  const index = takeIndex(counter);
  const tail = tailStart(j0, j1);
  const whole = (tail - j0) / SHARE_COLS;
  return index < whole ? j0 + index * SHARE_COLS : tail + (index - whole) * TAIL_SHARE;
}

/** The end of the share that `takeTailShare` started at column j. */
export function tailShareEnd(j: i32, j0: i32, j1: i32): i32 {
  return min(j1, j + (j < tailStart(j0, j1) ? SHARE_COLS : TAIL_SHARE));
}
