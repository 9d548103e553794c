/**
 * @module
 * The WebAssembly SIMD kernels in AssemblyScript: packed 4x8 f32x4 GEMM, int8 inference (int16×int8 dot
 * products, or 6-bit×int8 relaxed dot products in the relaxed builds) and the optimizer loops. Raw pointers
 * into memory owned and allocated by the TypeScript side; no runtime, no GC. Called through `runTask` with a
 * parameter block (tasks.ts).
 * One source, several builds: `ASC_FEATURE_RELAXED_SIMD` switches multiply-add to `f32x4.relaxed_madd`.
 */

/** 1 in the relaxed-SIMD builds, 0 in the plain ones: lets the loader name what it runs. */
export const RELAXED_SIMD: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 0;

export * from './tasks';
export { crc32Tables, crc32Update } from './crc32';
export { packPairRowsRange } from './int8-u7';
import { SHARE_COLS, tailShareEnd, takeShare, takeTailShare } from './shares';
import {
  linearU7Columns,
  linearU7PairRows,
  packPairRows,
  u7PairRowsScratchBytes,
  u7ScratchBytes,
} from './int8-u7';
import {
  ACTIVATION_GATE,
  ACTIVATION_LEAKY,
  ADAM_BETA1,
  ADAM_BETA2,
  ADAM_C2,
  ADAM_EPS,
  ADAM_G,
  ADAM_L1,
  ADAM_L2X2,
  ADAM_M,
  ADAM_N,
  ADAM_STEP_SIZE,
  ADAM_V,
  ADAM_W,
  EPILOGUE_ACTIVATION,
  EPILOGUE_ALPHA,
  EPILOGUE_BIAS,
  EPILOGUE_GATE,
  EPILOGUE_SLOPE,
  GEMM_A,
  GEMM_ACCUMULATE,
  GEMM_B,
  GEMM_C,
  GEMM_COUNTER,
  GEMM_LDB,
  GEMM_RELU_INPUT,
  GEMM_EPILOGUE,
  GEMM_J0,
  GEMM_J1,
  GEMM_K,
  GEMM_LAYOUT,
  GEMM_M,
  GEMM_N,
  GEMM_SCRATCH,
  INT8_BIAS,
  INT8_COUNTER,
  INT8_J0,
  INT8_J1,
  INT8_K,
  INT8_LAYOUT,
  INT8_LEAKY,
  INT8_M,
  INT8_N,
  INT8_Q,
  INT8_ROW_SUMS,
  INT8_SCALE,
  INT8_SCRATCH,
  INT8_SLOPE,
  INT8_X,
  INT8_Y,
  LAYOUT_NN,
  LAYOUT_NT,
  LAYOUT_TN,
  REDUCE_C,
  REDUCE_COUNT,
  REDUCE_EPILOGUE,
  REDUCE_M,
  REDUCE_N,
  REDUCE_PARTIALS,
  REDUCE_STRIDE,
  ROWS_A,
  ROWS_ACCUMULATE,
  ROWS_ALPHA,
  ROWS_LDB,
  ROWS_RELU_INPUT,
  ROWS_B,
  ROWS_C,
  ROWS_K,
  ROWS_LIST,
  ROWS_M,
  ROWS_N,
  ROWS_PART,
  ROWS_PARTS,
  SGD_G,
  SGD_I0,
  SGD_I1,
  SGD_L1,
  SGD_L2X2,
  SGD_LR,
  SGD_MOMENTUM,
  SGD_USE_MOMENTUM,
  SGD_V,
  SGD_W,
  KIND_ADAM,
  KIND_GEMM,
  TASK_KIND,
  KIND_LINEAR_INT8,
  KIND_REDUCE_ROWS,
  KIND_ROWS_PART,
  KIND_SGD,
  KIND_PAIR_ROWS,
  KIND_ROW_SUMS,
  SUMS_K,
  SUMS_N,
  SUMS_OUT,
  SUMS_Q,
  PAIRS_K,
  PAIRS_N,
  PAIRS_OUT,
  PAIRS_Q,
} from './tasks';

const NN = LAYOUT_NN;
const TN = LAYOUT_TN;
const NT = LAYOUT_NT;

// Fields of a task block (see tasks.ts).
function i32At(task: usize, offset: i32): i32 {
  return load<i32>(task + <usize>offset);
}
function ptrAt(task: usize, offset: i32): usize {
  return <usize>load<u32>(task + <usize>offset);
}
function f32At(task: usize, offset: i32): f32 {
  return load<f32>(task + <usize>offset);
}

/**
 * Runs the task whose parameter block is at `task` (layouts in tasks.ts): the one entry point of the calling
 * thread and of helper threads.
 */
export function runTask(task: usize): void {
  const kind = i32At(task, TASK_KIND);
  if (kind == KIND_GEMM) {
    readEpilogue(task + <usize>GEMM_EPILOGUE, ptrAt(task, GEMM_C));
    gemmCounter = ptrAt(task, GEMM_COUNTER);
    gemmLdb = i32At(task, GEMM_LDB);
    gemmReluInput = i32At(task, GEMM_RELU_INPUT) != 0;
    gemm(
      i32At(task, GEMM_LAYOUT),
      i32At(task, GEMM_M),
      i32At(task, GEMM_N),
      i32At(task, GEMM_K),
      ptrAt(task, GEMM_A),
      ptrAt(task, GEMM_B),
      ptrAt(task, GEMM_C),
      i32At(task, GEMM_ACCUMULATE),
      i32At(task, GEMM_J0),
      i32At(task, GEMM_J1),
      ptrAt(task, GEMM_SCRATCH),
    );
  } else if (kind == KIND_ROWS_PART) {
    const m = i32At(task, ROWS_M);
    const n = i32At(task, ROWS_N);
    const k = i32At(task, ROWS_K);
    const a = ptrAt(task, ROWS_A);
    const c = ptrAt(task, ROWS_C);
    const alpha = f32At(task, ROWS_ALPHA);
    gemmLdb = i32At(task, ROWS_LDB);
    gemmReluInput = i32At(task, ROWS_RELU_INPUT) != 0;
    for (let i = 0; i < m; i++) {
      rowProductNN(
        n,
        k,
        a + ((<usize>i * k) << 2),
        ptrAt(task, ROWS_B),
        c + ((<usize>i * n) << 2),
        i32At(task, ROWS_ACCUMULATE),
        0,
        n,
        i32At(task, ROWS_PART),
        i32At(task, ROWS_PARTS),
        ptrAt(task, ROWS_LIST),
        alpha,
      );
    }
  } else if (kind == KIND_REDUCE_ROWS) {
    readEpilogue(task + <usize>REDUCE_EPILOGUE, ptrAt(task, REDUCE_C));
    reduceRows(
      i32At(task, REDUCE_M),
      i32At(task, REDUCE_N),
      ptrAt(task, REDUCE_C),
      ptrAt(task, REDUCE_PARTIALS),
      i32At(task, REDUCE_COUNT),
      <usize>i32At(task, REDUCE_STRIDE),
    );
  } else if (kind == KIND_LINEAR_INT8) {
    int8Leaky = i32At(task, INT8_LEAKY) != 0;
    int8Slope = f32At(task, INT8_SLOPE);
    linearInt8Columns(
      i32At(task, INT8_M),
      i32At(task, INT8_N),
      i32At(task, INT8_K),
      ptrAt(task, INT8_X),
      ptrAt(task, INT8_Q),
      ptrAt(task, INT8_SCALE),
      ptrAt(task, INT8_BIAS),
      ptrAt(task, INT8_ROW_SUMS),
      ptrAt(task, INT8_Y),
      ptrAt(task, INT8_SCRATCH),
      i32At(task, INT8_J0),
      i32At(task, INT8_J1),
      i32At(task, INT8_LAYOUT),
      ptrAt(task, INT8_COUNTER),
    );
  } else if (kind == KIND_ROW_SUMS) {
    int8RowSums(i32At(task, SUMS_N), i32At(task, SUMS_K), ptrAt(task, SUMS_Q), ptrAt(task, SUMS_OUT));
  } else if (kind == KIND_PAIR_ROWS) {
    packPairRows(i32At(task, PAIRS_N), i32At(task, PAIRS_K), ptrAt(task, PAIRS_Q), ptrAt(task, PAIRS_OUT));
  } else if (kind == KIND_SGD) {
    const i0 = i32At(task, SGD_I0);
    const off = (<usize>i0) << 2;
    const useMomentum = i32At(task, SGD_USE_MOMENTUM);
    sgdUpdate(
      ptrAt(task, SGD_W) + off,
      ptrAt(task, SGD_G) + off,
      useMomentum ? ptrAt(task, SGD_V) + off : 0,
      i32At(task, SGD_I1) - i0,
      f32At(task, SGD_LR),
      f32At(task, SGD_MOMENTUM),
      f32At(task, SGD_L1),
      f32At(task, SGD_L2X2),
      useMomentum,
    );
  } else if (kind == KIND_ADAM) {
    adamUpdate(
      ptrAt(task, ADAM_W),
      ptrAt(task, ADAM_G),
      ptrAt(task, ADAM_M),
      ptrAt(task, ADAM_V),
      i32At(task, ADAM_N),
      f32At(task, ADAM_STEP_SIZE),
      f32At(task, ADAM_BETA1),
      f32At(task, ADAM_BETA2),
      f32At(task, ADAM_EPS),
      f32At(task, ADAM_C2),
      f32At(task, ADAM_L1),
      f32At(task, ADAM_L2X2),
    );
  } else {
    unreachable();
  }
}

/**
 * Bytes of per-thread scratch a packed GEMM needs: packed A, one packed B panel, an edge tile, and the lists of
 * the zero-skipping packs (a column list per 4-row block of A and their counts, or a row list of the panel).
 */
export function gemmScratchBytes(m: i32, k: i32): i32 {
  const blocks = (m + 3) >> 2;
  return (blocks * 4 * k + ROW_SPARSE_COLS * k + 32 + blocks * k + blocks + k + 2) * 4;
}

// The shared counter of the current GEMM task's shares (GEMM_COUNTER), or 0; per instance, so per thread.
let gemmCounter: usize = 0;
// The current task's GEMM_LDB (0: b's rows are n wide) and GEMM_RELU_INPUT (or the ROWS_ ones).
let gemmLdb: i32 = 0;
let gemmReluInput: bool = false;

/** Elements from one row of b [k×…] to the next in the current task, for b's n columns. */
function ldbOf(n: i32): i32 {
  return gemmLdb > 0 ? gemmLdb : n;
}

// The epilogue of the current GEMM task; globals are per instance, so per thread.
let epPlain: bool = true;
/** Only a scale: no bias, activation or gate. */
let epAlphaOnly: bool = true;
let epAlpha: f32 = 1;
let epBias: usize = 0;
let epLeaky: bool = false;
let epGated: bool = false;
let epSlope: f32 = 0;
/** gate − c in bytes: the gate value of the result at address `out` is at `out + epGateShift`. */
let epGateShift: usize = 0;

function readEpilogue(epilogue: usize, c: usize): void {
  epAlpha = load<f32>(epilogue + <usize>EPILOGUE_ALPHA);
  epBias = <usize>load<u32>(epilogue + <usize>EPILOGUE_BIAS);
  const mode = load<i32>(epilogue + <usize>EPILOGUE_ACTIVATION);
  epLeaky = mode == ACTIVATION_LEAKY;
  epGated = mode == ACTIVATION_GATE;
  epSlope = load<f32>(epilogue + <usize>EPILOGUE_SLOPE);
  epGateShift = <usize>load<u32>(epilogue + <usize>EPILOGUE_GATE) - c;
  epAlphaOnly = epBias == 0 && !epLeaky && !epGated;
  epPlain = epAlpha == 1 && epAlphaOnly;
}

// Stores 4 results of columns [col, col+4) through the epilogue.
function finish4(out: usize, col: i32, v: v128, accumulate: i32): void {
  const r = accumulate ? madd(v, f32x4.splat(epAlpha), v128.load(out)) : f32x4.mul(v, f32x4.splat(epAlpha));
  v128.store(out, activate4(out, col, r));
}

// The bias, LeakyReLU and gate steps of the epilogue on 4 results r of columns [col, col+4) stored at out.
function activate4(out: usize, col: i32, r: v128): v128 {
  if (epBias) r = f32x4.add(r, v128.load(epBias + ((<usize>col) << 2)));
  if (epLeaky) r = f32x4.max(r, f32x4.mul(r, f32x4.splat(epSlope)));
  if (epGated) {
    const open = f32x4.gt(v128.load(out + epGateShift), f32x4.splat(0));
    r = v128.bitselect(r, f32x4.mul(r, f32x4.splat(epSlope)), open);
  }
  return r;
}

// Stores one result of column col through the epilogue.
function finish1(out: usize, col: i32, v: f32, accumulate: i32): void {
  let r = v * epAlpha;
  if (accumulate) r += load<f32>(out);
  store<f32>(out, activate1(out, col, r));
}

function activate1(out: usize, col: i32, r: f32): f32 {
  if (epBias) r += load<f32>(epBias + ((<usize>col) << 2));
  if (epLeaky && !(r > 0)) r *= epSlope;
  if (epGated && !(load<f32>(out + epGateShift) > 0)) r *= epSlope;
  return r;
}

// a·b + c, fused when relaxed SIMD is enabled (compile-time branch: the plain build never sees relaxed_madd).
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * Columns [j0, j1) of one GEMM (j0 a multiple of 8), so that threads can split N. Packs A once into
 * `scratch`, then for each 8-column panel packs B and sweeps 4-row blocks of A over it: the panel (8·k floats)
 * stays in L1 while A streams from L2.
 */
function gemm(
  kind: i32,
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  b: usize,
  c: usize,
  accumulate: i32,
  j0: i32,
  j1: i32,
  scratch: usize,
): void {
  if (m <= 0 || j1 <= j0) return;
  if (kind == NT && m <= DOT_MAX_ROWS && k > 0) {
    gemmDotNT(m, n, k, a, b, c, accumulate, j0, j1);
    return;
  }
  if (kind == NN && m <= AXPY_MAX_ROWS && k > 0) {
    for (let i = 0; i < m; i++) {
      const row = c + ((<usize>i * n) << 2);
      const alpha: f32 = epPlain ? 1 : epAlpha;
      rowProductNN(n, k, a + ((<usize>i * k) << 2), b, row, accumulate, j0, j1, 0, 1, scratch, alpha);
      activateRow(row + ((<usize>j0) << 2), j0, (<usize>(j1 - j0)) << 2);
    }
    return;
  }
  if (k <= 0) {
    // c = the epilogue of 0 (threads never split such a product, but a counter would still be honoured).
    if (!gemmCounter) {
      emptyProduct(m, n, c, accumulate, j0, j1);
      return;
    }
    for (let j = takeShare(gemmCounter, j0); j < j1; j = takeShare(gemmCounter, j0)) {
      emptyProduct(m, n, c, accumulate, j, min(j1, j + SHARE_COLS));
    }
    return;
  }
  const blocks = (m + 3) >> 2;
  const pa = scratch;
  const pb = pa + ((<usize>(blocks << 2) * k) << 2);
  const tile = pb + <usize>k * (ROW_SPARSE_COLS << 2);
  // Lists of the zero-skipping paths: layouts NT and NN (a [m×k] row-major in both), per 4-row block of a its
  // nonzero columns (k entries each) and their counts; layout TN, the nonzero rows of the current B panel.
  const lists = tile + 128;
  const counts = lists + ((<usize>blocks * k) << 2);
  // Layouts NT and NN: a sparse a runs row by row; an a denser than any block may skip (LeakyReLU outputs)
  // is packed densely at once, without the trial of packASparse.
  let blocksSparse = false;
  if (kind != TN) {
    const nonzero = <i64>(k >= 8 ? countNonzero(a, m * k) : m * k);
    if (nonzero <= (<i64>m * k * ROW_SPARSE_MAX_16THS) >> 4) {
      // Entries of a's nonzero values where the packed blocks would go (at most m·k/2 of 8 bytes), row starts
      // in the lists, the 32-column weight panel where the 8-column one would go.
      // Which groups of 4 columns of a hold a nonzero value (one byte each), where the block counts would go.
      packRowsSparse(a, m, k, pa, lists, counts);
      if (!gemmCounter) {
        rowSparseProduct(kind, m, n, k, b, c, accumulate, j0, j1, pa, lists, pb, tile, counts);
        return;
      }
      for (let j = takeShare(gemmCounter, j0); j < j1; j = takeShare(gemmCounter, j0)) {
        const end = min(j1, j + SHARE_COLS);
        rowSparseProduct(kind, m, n, k, b, c, accumulate, j, end, pa, lists, pb, tile, counts);
      }
      return;
    }
    blocksSparse = nonzero <= (<i64>m * k * SPARSE_MAX_16THS) >> 4;
  }
  if (kind == TN) packATransposed(a, m, k, pa);
  else if (blocksSparse) packASparse(a, m, k, pa, lists, counts);
  else packA(a, m, k, pa);
  if (!gemmCounter) {
    packedColumns(kind, m, n, k, b, c, accumulate, j0, j1, pa, pb, tile, lists, counts, blocksSparse);
    return;
  }
  // Whole shares, then a tail of narrow ones (the row-sparse product above keeps its 32-column panels whole).
  for (let j = takeTailShare(gemmCounter, j0, j1); j < j1; j = takeTailShare(gemmCounter, j0, j1)) {
    const end = tailShareEnd(j, j0, j1);
    packedColumns(kind, m, n, k, b, c, accumulate, j, end, pa, pb, tile, lists, counts, blocksSparse);
  }
}

// Columns [j0, j1) of c [m×n] for k = 0: the epilogue of an empty sum.
function emptyProduct(m: i32, n: i32, c: usize, accumulate: i32, j0: i32, j1: i32): void {
  for (let i = 0; i < m; i++) {
    const row = c + ((<usize>i * n) << 2);
    if (epPlain) {
      if (!accumulate) memory.fill(row + ((<usize>j0) << 2), 0, (j1 - j0) << 2);
    } else {
      for (let j = j0; j < j1; j++) finish1(row + ((<usize>j) << 2), j, 0, accumulate);
    }
  }
}

/**
 * Columns [j0, j1) of a packed GEMM whose a is packed at pa (gemm): per 8-column panel of b packed at pb, the
 * 4-row blocks of a swept over it. `blocksSparse`: a was packed by packASparse (its lists and counts).
 */
function packedColumns(
  kind: i32,
  m: i32,
  n: i32,
  k: i32,
  b: usize,
  c: usize,
  accumulate: i32,
  j0: i32,
  j1: i32,
  pa: usize,
  pb: usize,
  tile: usize,
  lists: usize,
  counts: usize,
  blocksSparse: bool,
): void {
  for (let j = j0; j < j1; j += 8) {
    const cols = min(8, j1 - j);
    let panelRows = k;
    if (kind == NT) packBTransposed(b, j, cols, k, pb);
    else if (kind == TN) panelRows = packBSparse(b, ldbOf(n), j, cols, k, pb, lists);
    else packB(b, ldbOf(n), j, cols, k, pb);
    // c += alpha·0 leaves c as it is: the fused SGD step skips the pixels blank in the whole batch (13.7% of
    // an MNIST batch's 8-pixel panels).
    if (panelRows == 0 && accumulate && epAlphaOnly) continue;
    for (let i = 0; i < m; i += 4) {
      const block = i >> 2;
      const blockA = pa + ((<usize>i * k) << 2);
      const out = c + ((<usize>i * n + j) << 2);
      const rows = min(4, m - i);
      if (blocksSparse) {
        const count = load<i32>(counts + ((<usize>block) << 2));
        if (count < k) {
          const list = lists + ((<usize>block * k) << 2);
          microKernelGatherB(count, blockA, list, pb, out, n, rows, cols, accumulate, tile, j);
          continue;
        }
      } else if (panelRows < k) {
        microKernelGatherA(panelRows, blockA, lists, pb, out, n, rows, cols, accumulate, tile, j);
        continue;
      }
      microKernel(k, blockA, pb, out, n, rows, cols, accumulate, tile, j);
    }
  }
}

/**
 * Layouts NT and NN with at most this fraction (in 1/16ths) of a's values nonzero (an image batch, ~20% for
 * MNIST digits) run row by row: each row's nonzero values and their columns listed once (`packRowsSparse`),
 * then per 32-column panel of b (packed, 32·k floats, in L2) each row adds up only the panel rows of its
 * nonzero inputs (`rowSparseKernel`). The 4-row blocks of `packASparse` skip only the columns zero in all 4
 * rows (~45% of an MNIST block's); rows skip all of theirs. Zero values are skipped (0·∞ gives 0, not NaN).
 */
const ROW_SPARSE_MAX_16THS: i32 = 8;
/** Columns of b per panel of the row-sparse product: 8 accumulators of 4. */
const ROW_SPARSE_COLS: i32 = 32;

// How many of the `count` floats at a are not 0 (NaN counts, −0 does not, as `listNonzero`).
function countNonzero(a: usize, count: i32): i32 {
  const zero = f32x4.splat(0);
  let acc = i32x4.splat(0);
  const end4 = a + ((<usize>(count & ~3)) << 2);
  let p = a;
  for (; p < end4; p += 16) acc = i32x4.sub(acc, f32x4.ne(v128.load(p), zero));
  let total =
    i32x4.extract_lane(acc, 0) +
    i32x4.extract_lane(acc, 1) +
    i32x4.extract_lane(acc, 2) +
    i32x4.extract_lane(acc, 3);
  const end = a + ((<usize>count) << 2);
  for (; p < end; p += 4) total += i32(load<f32>(p) != 0);
  return total;
}

/**
 * The nonzero values of a [m×k] row after row as 8-byte entries at `entries`: the byte offset p·128 of their
 * column's row in a 32-column panel, then the value; row i's entries from starts[i] to starts[i+1]. Groups of
 * 4 zeros (an image's margins) are passed over at once; the rest is written branch-free (one entry past the
 * last may be written).
 */
function packRowsSparse(a: usize, m: i32, k: i32, entries: usize, starts: usize, groups: usize): void {
  const k4 = k & ~3;
  memory.fill(groups, 0, <usize>(k4 >> 2));
  let t = 0;
  let src = a;
  for (let i = 0; i < m; i++) {
    store<i32>(starts + ((<usize>i) << 2), t);
    let p = 0;
    for (; p < k4; p += 4) {
      if (!v128.any_true(f32x4.ne(v128.load(src), f32x4.splat(0)))) {
        src += 16;
        continue;
      }
      store<u8>(groups + (p >> 2), 1);
      for (let q = 0; q < 4; q++) {
        const v = load<f32>(src);
        const e = entries + ((<usize>t) << 3);
        store<u32>(e, (p + q) << 7);
        store<f32>(e, v, 4);
        t += i32(v != 0);
        src += 4;
      }
    }
    for (; p < k; p++) {
      const v = load<f32>(src);
      const e = entries + ((<usize>t) << 3);
      store<u32>(e, p << 7);
      store<f32>(e, v, 4);
      t += i32(v != 0);
      src += 4;
    }
  }
  store<i32>(starts + ((<usize>m) << 2), t);
}

/** Columns [j0, j1) of c = a·b (NN, b [k×n]) or a·bᵀ (NT, b [n×k]) from the entries of `packRowsSparse`. */
function rowSparseProduct(
  kind: i32,
  m: i32,
  n: i32,
  k: i32,
  b: usize,
  c: usize,
  accumulate: i32,
  j0: i32,
  j1: i32,
  entries: usize,
  starts: usize,
  panel: usize,
  tile: usize,
  groups: usize,
): void {
  for (let j = j0; j < j1; j += ROW_SPARSE_COLS) {
    const cols = min(ROW_SPARSE_COLS, j1 - j);
    if (kind == NT) packPanel32Transposed(b, j, cols, k, panel, groups);
    else packPanel32(b, ldbOf(n), j, cols, k, panel, groups);
    let out = c + ((<usize>j) << 2);
    const stride = (<usize>n) << 2;
    for (let i = 0; i < m; i++) {
      const from = entries + ((<usize>load<i32>(starts + ((<usize>i) << 2))) << 3);
      const to = entries + ((<usize>load<i32>(starts + ((<usize>(i + 1)) << 2))) << 3);
      rowSparseKernel(from, to, panel, out, cols, accumulate, tile, j);
      out += stride;
    }
  }
}

// Panel of b [k×n] columns [j, j+cols): dst[p·32 + c] = b[p][j + c], zero padded to 32 columns; the groups of
// 4 rows whose byte in `groups` is 0 (no entry of packRowsSparse reads them) are left as they are.
function packPanel32(b: usize, n: i32, j: i32, cols: i32, k: i32, dst: usize, groups: usize): void {
  let src = b + ((<usize>j) << 2);
  const stride = (<usize>n) << 2;
  const k4 = k & ~3;
  if (cols == 32) {
    for (let p = 0; p < k; p++) {
      if (p < k4 && !load<u8>(groups + (p >> 2))) {
        src += stride;
        dst += 128;
        continue;
      }
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      v128.store(dst, v128.load(src, 32), 32);
      v128.store(dst, v128.load(src, 48), 48);
      v128.store(dst, v128.load(src, 64), 64);
      v128.store(dst, v128.load(src, 80), 80);
      v128.store(dst, v128.load(src, 96), 96);
      v128.store(dst, v128.load(src, 112), 112);
      src += stride;
      dst += 128;
    }
    return;
  }
  memory.fill(dst, 0, (<usize>k) << 7);
  for (let p = 0; p < k; p++) {
    memory.copy(dst, src, (<usize>cols) << 2);
    src += stride;
    dst += 128;
  }
}

// Panel of bᵀ where b is [n×k]: dst[p·32 + c] = b[j + c][p], zero padded; groups of 4 rows of b transposed
// 4x4 in registers, except the groups of 4 panel rows whose byte in `used` is 0 (no entry reads them).
function packPanel32Transposed(b: usize, j: i32, cols: i32, k: i32, dst: usize, used: usize): void {
  const row = (<usize>k) << 2;
  const base = b + <usize>j * row;
  if (cols < 32) memory.fill(dst, 0, (<usize>k) << 7);
  const groups = cols >> 2;
  const k4 = k & ~3;
  for (let g = 0; g < groups; g++) {
    const r0 = base + <usize>(g << 2) * row;
    const r1 = r0 + row;
    const r2 = r1 + row;
    const r3 = r2 + row;
    let out = dst + ((<usize>g) << 4);
    let p = 0;
    for (; p < k4; p += 4) {
      if (!load<u8>(used + (p >> 2))) {
        out += 512;
        continue;
      }
      const off = (<usize>p) << 2;
      const x0 = v128.load(r0 + off);
      const x1 = v128.load(r1 + off);
      const x2 = v128.load(r2 + off);
      const x3 = v128.load(r3 + off);
      const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
      const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
      v128.store(out, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      v128.store(out, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 128);
      v128.store(out, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 256);
      v128.store(out, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 384);
      out += 512;
    }
    for (; p < k; p++) {
      const off = (<usize>p) << 2;
      store<f32>(out, load<f32>(r0 + off));
      store<f32>(out, load<f32>(r1 + off), 4);
      store<f32>(out, load<f32>(r2 + off), 8);
      store<f32>(out, load<f32>(r3 + off), 12);
      out += 128;
    }
  }
  for (let cc = groups << 2; cc < cols; cc++) {
    let src = base + <usize>cc * row;
    let out = dst + ((<usize>cc) << 2);
    for (let p = 0; p < k; p++) {
      store<f32>(out, load<f32>(src));
      src += 4;
      out += 128;
    }
  }
}

/**
 * One row's `cols` (≤ 32) results at out (+)= Σ over its entries [from, to) of value · (the entry's row of the
 * 32-column panel), through the epilogue. 8 accumulators, one broadcast value, the panel loads used directly.
 */
function rowSparseKernel(
  from: usize,
  to: usize,
  panel: usize,
  out: usize,
  cols: i32,
  accumulate: i32,
  tile: usize,
  col: i32,
): void {
  let c0 = f32x4.splat(0);
  let c1 = f32x4.splat(0);
  let c2 = f32x4.splat(0);
  let c3 = f32x4.splat(0);
  let c4 = f32x4.splat(0);
  let c5 = f32x4.splat(0);
  let c6 = f32x4.splat(0);
  let c7 = f32x4.splat(0);
  // The next entry's offset is loaded one step ahead, so no step waits for its own (the 8 bytes past `to` lie
  // in the scratch: the next row's entry, or one never used).
  let next = <usize>load<u32>(from);
  for (let e = from; e < to; e += 8) {
    const at = panel + next;
    next = <usize>load<u32>(e, 8);
    const s = v128.load32_splat(e, 4);
    c0 = madd(s, v128.load(at), c0);
    c1 = madd(s, v128.load(at, 16), c1);
    c2 = madd(s, v128.load(at, 32), c2);
    c3 = madd(s, v128.load(at, 48), c3);
    c4 = madd(s, v128.load(at, 64), c4);
    c5 = madd(s, v128.load(at, 80), c5);
    c6 = madd(s, v128.load(at, 96), c6);
    c7 = madd(s, v128.load(at, 112), c7);
  }
  if (cols == 32) {
    if (epPlain && !accumulate) {
      v128.store(out, c0);
      v128.store(out, c1, 16);
      v128.store(out, c2, 32);
      v128.store(out, c3, 48);
      v128.store(out, c4, 64);
      v128.store(out, c5, 80);
      v128.store(out, c6, 96);
      v128.store(out, c7, 112);
    } else {
      finish4(out, col, c0, accumulate);
      finish4(out + 16, col + 4, c1, accumulate);
      finish4(out + 32, col + 8, c2, accumulate);
      finish4(out + 48, col + 12, c3, accumulate);
      finish4(out + 64, col + 16, c4, accumulate);
      finish4(out + 80, col + 20, c5, accumulate);
      finish4(out + 96, col + 24, c6, accumulate);
      finish4(out + 112, col + 28, c7, accumulate);
    }
    return;
  }
  v128.store(tile, c0);
  v128.store(tile, c1, 16);
  v128.store(tile, c2, 32);
  v128.store(tile, c3, 48);
  v128.store(tile, c4, 64);
  v128.store(tile, c5, 80);
  v128.store(tile, c6, 96);
  v128.store(tile, c7, 112);
  for (let jj = 0; jj < cols; jj++) {
    const o = out + ((<usize>jj) << 2);
    const v = load<f32>(tile + ((<usize>jj) << 2));
    if (epPlain) store<f32>(o, accumulate ? load<f32>(o) + v : v);
    else finish1(o, col + jj, v, accumulate);
  }
}

/**
 * Zero-skipping packs use their list only when at most this fraction (in 1/16ths) of the columns or rows is
 * nonzero; denser blocks run the dense kernel, which has no list to read. Measured on MNIST batches (see
 * docs/benchmarks.md): the gathering kernels run within a few percent of the dense one.
 */
const SPARSE_MAX_16THS: i32 = 14;

/**
 * packA for layouts NT's and NN's a [m×k], skipping zeros: for each 4-row block, only the columns p with a nonzero value
 * in one of its rows (a zero bit pattern counts as zero; NaN and −0 do not), their 4 values one after the
 * other at the block's place in dst, the byte offsets p·32 (p's row in a B panel) at lists + 4·k·block, their
 * count at counts + 4·block. A block with more nonzero columns than SPARSE_MAX_16THS allows is packed densely
 * (as packA does) with count k. Layer 1's input is an image, ~80% exact zeros: its forward then skips them,
 * with the weights [out×in] (`linear`) or [in×out] (`linearT`, a predictor's layout once it has served one image).
 */
function packASparse(a: usize, m: i32, k: i32, dst: usize, lists: usize, counts: usize): void {
  const row = (<usize>k) << 2;
  const limit = (k * SPARSE_MAX_16THS) >> 4;
  for (let i = 0; i < m; i += 4) {
    const rows = min(4, m - i);
    const r0 = a + <usize>i * row;
    const r1 = rows > 1 ? r0 + row : r0;
    const r2 = rows > 2 ? r0 + 2 * row : r0;
    const r3 = rows > 3 ? r0 + 3 * row : r0;
    const mask = i32x4.replace_lane(i32x4.splat(-1), 1, rows > 1 ? -1 : 0);
    const keep = i32x4.replace_lane(i32x4.replace_lane(mask, 2, rows > 2 ? -1 : 0), 3, rows > 3 ? -1 : 0);
    const block = i >> 2;
    const list = lists + ((<usize>block * k) << 2);
    let out = dst + ((<usize>block * k) << 4);
    let count = 0;
    for (let p = 0; p < k; p++) {
      const off = (<usize>p) << 2;
      let v = f32x4.splat(load<f32>(r0 + off));
      v = f32x4.replace_lane(v, 1, load<f32>(r1 + off));
      v = f32x4.replace_lane(v, 2, load<f32>(r2 + off));
      v = f32x4.replace_lane(v, 3, load<f32>(r3 + off));
      v = v128.and(v, keep);
      if (v128.any_true(v)) {
        v128.store(out, v);
        out += 16;
        store<u32>(list + ((<usize>count) << 2), p << 5);
        count++;
      }
    }
    if (count > limit) {
      packA(r0, rows, k, dst + ((<usize>block * k) << 4));
      count = k;
    }
    store<i32>(counts + ((<usize>block) << 2), count);
  }
}

/**
 * packB for layout TN's b [k×n], skipping zeros: columns [j, j+cols) of only the rows p of b that are not all
 * zero there, 8 values each one after the other in dst, and the byte offsets p·16 (p's place in a packed A
 * block) in list. Returns how many; a panel with more rows than SPARSE_MAX_16THS allows is packed densely (as
 * packB does) and k returned. Layer 1's weight gradient dyᵀ·x then skips the examples blank in a panel's pixels.
 */
function packBSparse(b: usize, n: i32, j: i32, cols: i32, k: i32, dst: usize, list: usize): i32 {
  const limit = (k * SPARSE_MAX_16THS) >> 4;
  const stride = (<usize>n) << 2;
  let src = b + ((<usize>j) << 2);
  let out = dst;
  let count = 0;
  if (cols == 8) {
    for (let p = 0; p < k; p++) {
      const x0 = v128.load(src);
      const x1 = v128.load(src, 16);
      if (v128.any_true(v128.or(x0, x1))) {
        v128.store(out, x0);
        v128.store(out, x1, 16);
        out += 32;
        store<u32>(list + ((<usize>count) << 2), p << 4);
        count++;
      }
      src += stride;
    }
  } else {
    for (let p = 0; p < k; p++) {
      let any = false;
      for (let c = 0; c < cols; c++) any = any || load<u32>(src + (c << 2)) != 0;
      if (any) {
        for (let c = 0; c < 8; c++) store<f32>(out + (c << 2), c < cols ? load<f32>(src + (c << 2)) : 0);
        out += 32;
        store<u32>(list + ((<usize>count) << 2), p << 4);
        count++;
      }
      src += stride;
    }
  }
  // No row skipped: what was copied is the dense panel already.
  if (count <= limit || count == k) return count;
  packB(b, n, j, cols, k, dst);
  return k;
}

/**
 * Up to this many rows of a, c = a·bᵀ is computed as plain dot products of rows (both contiguous): packing
 * b would cost as much as the product itself, as when serving one image. That path needs no scratch.
 */
export const DOT_MAX_ROWS: i32 = 8;

// c[i][j] = a_i · b_j over 2-row × 4-row tiles: 8 accumulators, 2 a vectors, 1 b vector.
function gemmDotNT(
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  b: usize,
  c: usize,
  accumulate: i32,
  j0: i32,
  j1: i32,
): void {
  const row = (<usize>k) << 2;
  const k4 = (<usize>(k & ~3)) << 2;
  const m2 = m & ~1;
  const jEnd = j0 + ((j1 - j0) & ~3);
  // j outer: the 4 rows of b stay in L1 while the rows of a (few, so in L2) stream past them.
  for (let j = j0; j < jEnd; j += 4) {
    const b0 = b + <usize>j * row;
    const b1 = b0 + row;
    const b2 = b1 + row;
    const b3 = b2 + row;
    for (let i = 0; i < m2; i += 2) {
      const a0 = a + <usize>i * row;
      const a1 = a0 + row;
      let c00 = f32x4.splat(0);
      let c01 = f32x4.splat(0);
      let c02 = f32x4.splat(0);
      let c03 = f32x4.splat(0);
      let c10 = f32x4.splat(0);
      let c11 = f32x4.splat(0);
      let c12 = f32x4.splat(0);
      let c13 = f32x4.splat(0);
      for (let p: usize = 0; p < k4; p += 16) {
        const x0 = v128.load(a0 + p);
        const x1 = v128.load(a1 + p);
        let y = v128.load(b0 + p);
        c00 = madd(x0, y, c00);
        c10 = madd(x1, y, c10);
        y = v128.load(b1 + p);
        c01 = madd(x0, y, c01);
        c11 = madd(x1, y, c11);
        y = v128.load(b2 + p);
        c02 = madd(x0, y, c02);
        c12 = madd(x1, y, c12);
        y = v128.load(b3 + p);
        c03 = madd(x0, y, c03);
        c13 = madd(x1, y, c13);
      }
      const out0 = c + ((<usize>i * n + j) << 2);
      const out1 = out0 + ((<usize>n) << 2);
      storeDot(out0, j, hsum(c00) + dotTail(a0, b0, k4, row), accumulate);
      storeDot(out0 + 4, j + 1, hsum(c01) + dotTail(a0, b1, k4, row), accumulate);
      storeDot(out0 + 8, j + 2, hsum(c02) + dotTail(a0, b2, k4, row), accumulate);
      storeDot(out0 + 12, j + 3, hsum(c03) + dotTail(a0, b3, k4, row), accumulate);
      storeDot(out1, j, hsum(c10) + dotTail(a1, b0, k4, row), accumulate);
      storeDot(out1 + 4, j + 1, hsum(c11) + dotTail(a1, b1, k4, row), accumulate);
      storeDot(out1 + 8, j + 2, hsum(c12) + dotTail(a1, b2, k4, row), accumulate);
      storeDot(out1 + 12, j + 3, hsum(c13) + dotTail(a1, b3, k4, row), accumulate);
    }
  }
  // The last row when m is odd (one image being served): bound by reading b, so b is read in one linear
  // stream, row after row (the prefetcher follows one stream best; 4 rows at once ran at ~60% of the speed),
  // each row's dot product over 8 independent accumulator chains.
  if (m2 < m) {
    const ai = a + <usize>m2 * row;
    const k32 = (<usize>(k & ~31)) << 2;
    const k16 = (<usize>(k & ~15)) << 2;
    const j2 = j0 == 0 && j1 == n ? j0 + ((j1 - j0) & ~1) : j0;
    for (let j = j0; j < j2; j += 2) {
      const w0 = b + <usize>j * row;
      const w1 = w0 + row;
      let s00 = f32x4.splat(0);
      let s01 = f32x4.splat(0);
      let s02 = f32x4.splat(0);
      let s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0);
      let s11 = f32x4.splat(0);
      let s12 = f32x4.splat(0);
      let s13 = f32x4.splat(0);
      let p: usize = 0;
      for (; p < k16; p += 64) {
        const x = ai + p;
        const x0 = v128.load(x);
        s00 = madd(x0, v128.load(w0 + p), s00);
        s10 = madd(x0, v128.load(w1 + p), s10);
        const x1 = v128.load(x, 16);
        s01 = madd(x1, v128.load(w0 + p, 16), s01);
        s11 = madd(x1, v128.load(w1 + p, 16), s11);
        const x2 = v128.load(x, 32);
        s02 = madd(x2, v128.load(w0 + p, 32), s02);
        s12 = madd(x2, v128.load(w1 + p, 32), s12);
        const x3 = v128.load(x, 48);
        s03 = madd(x3, v128.load(w0 + p, 48), s03);
        s13 = madd(x3, v128.load(w1 + p, 48), s13);
      }
      for (; p < k4; p += 16) {
        const x0 = v128.load(ai + p);
        s00 = madd(x0, v128.load(w0 + p), s00);
        s10 = madd(x0, v128.load(w1 + p), s10);
      }
      const out = c + ((<usize>m2 * n + j) << 2);
      const t0 = f32x4.add(f32x4.add(s00, s01), f32x4.add(s02, s03));
      const t1 = f32x4.add(f32x4.add(s10, s11), f32x4.add(s12, s13));
      storeDot(out, j, hsum(t0) + dotTail(ai, w0, k4, row), accumulate);
      storeDot(out + 4, j + 1, hsum(t1) + dotTail(ai, w1, k4, row), accumulate);
    }
    for (let j = j2; j < j1; j++) {
      const bj = b + <usize>j * row;
      let s0 = f32x4.splat(0);
      let s1 = f32x4.splat(0);
      let s2 = f32x4.splat(0);
      let s3 = f32x4.splat(0);
      let s4 = f32x4.splat(0);
      let s5 = f32x4.splat(0);
      let s6 = f32x4.splat(0);
      let s7 = f32x4.splat(0);
      let p: usize = 0;
      for (; p < k32; p += 128) {
        const x = ai + p;
        const y = bj + p;
        s0 = madd(v128.load(x), v128.load(y), s0);
        s1 = madd(v128.load(x, 16), v128.load(y, 16), s1);
        s2 = madd(v128.load(x, 32), v128.load(y, 32), s2);
        s3 = madd(v128.load(x, 48), v128.load(y, 48), s3);
        s4 = madd(v128.load(x, 64), v128.load(y, 64), s4);
        s5 = madd(v128.load(x, 80), v128.load(y, 80), s5);
        s6 = madd(v128.load(x, 96), v128.load(y, 96), s6);
        s7 = madd(v128.load(x, 112), v128.load(y, 112), s7);
      }
      for (; p < k4; p += 16) s0 = madd(v128.load(ai + p), v128.load(bj + p), s0);
      const sum = f32x4.add(
        f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)),
        f32x4.add(f32x4.add(s4, s5), f32x4.add(s6, s7)),
      );
      storeDot(c + ((<usize>m2 * n + j) << 2), j, hsum(sum) + dotTail(ai, bj, k4, row), accumulate);
    }
  }
  // Leftover columns of the row pairs.
  for (let i = 0; i < m2; i++) {
    const ai = a + <usize>i * row;
    for (let j = jEnd; j < j1; j++) {
      const bj = b + <usize>j * row;
      let s = f32x4.splat(0);
      for (let p: usize = 0; p < k4; p += 16) s = madd(v128.load(ai + p), v128.load(bj + p), s);
      storeDot(c + ((<usize>i * n + j) << 2), j, hsum(s) + dotTail(ai, bj, k4, row), accumulate);
    }
  }
}

/**
 * Up to this many rows of a, c = a·b (b [k×n]) is computed row by row as the sum of b's rows scaled by the
 * row's nonzero values of a: serving one image through weights stored [in×out] reads only the weight rows of
 * its nonzero inputs (a fifth of the first layer for an MNIST digit), each as one linear stream. Packing b
 * would read all of it, and up to 8 rows even dense ones are faster this way (784→1024, one thread: 8 rows
 * ~0.44 ms; 9 rows packed ~0.64 ms). Needs k·4 bytes of scratch (the list of nonzero inputs). Zero inputs are
 * skipped, so 0·∞ contributes 0 here where a dense product gives NaN.
 */
export const AXPY_MAX_ROWS: i32 = 8;

/**
 * Columns [j0, j1) of one row of c = a·b over part `part` of `parts` of the row's nonzero inputs:
 * c (+)= alpha·Σ x[p]·b[p], without the epilogue's bias and activation. One part of one is the whole product;
 * threads split a product by inputs (KIND_ROWS_PART, each thread reading whole weight rows), and
 * `reduceRows` (KIND_REDUCE_ROWS) sums their parts and applies the bias and activation.
 */
function rowProductNN(
  n: i32,
  k: i32,
  x: usize,
  b: usize,
  c: usize,
  accumulate: i32,
  j0: i32,
  j1: i32,
  part: i32,
  parts: i32,
  list: usize,
  alpha: f32,
): void {
  const count = gemmReluInput ? listPositive(x, k, list) : listNonzero(x, k, list);
  const out = c + ((<usize>j0) << 2);
  const bytes = (<usize>(j1 - j0)) << 2;
  if (!accumulate) memory.fill(out, 0, bytes);
  const t0 = <i32>((<i64>count * part) / parts);
  const t1 = <i32>((<i64>count * (part + 1)) / parts);
  axpyRows(x, b + ((<usize>j0) << 2), (<usize>ldbOf(n)) << 2, out, bytes, list, t0, t1, alpha);
}

/**
 * c[m×n] += the `count` partial products at `partials` (each laid out like c, `stride` bytes apart), then the
 * epilogue's bias and activation: the join of a few-row product split by inputs (KIND_ROWS_PART).
 */
function reduceRows(m: i32, n: i32, c: usize, partials: usize, count: i32, stride: usize): void {
  const row = (<usize>n) << 2;
  const bytes = <usize>m * row;
  const bytes4 = bytes & ~15;
  for (let t = 0; t < count; t++) {
    const src = partials + <usize>t * stride;
    let o: usize = 0;
    for (; o < bytes4; o += 16) v128.store(c + o, f32x4.add(v128.load(c + o), v128.load(src + o)));
    for (; o < bytes; o += 4) store<f32>(c + o, load<f32>(c + o) + load<f32>(src + o));
  }
  for (let i = 0; i < m; i++) activateRow(c + <usize>i * row, 0, row);
}

// The indices p < k with x[p] > 0 or NaN (x read through ReLU), written to list branch-free; returns how many.
function listPositive(x: usize, k: i32, list: usize): i32 {
  let count = 0;
  for (let p = 0; p < k; p++) {
    store<i32>(list + ((<usize>count) << 2), p);
    count += i32(!(load<f32>(x + ((<usize>p) << 2)) <= 0));
  }
  return count;
}

// The indices p < k with x[p] ≠ 0 (NaN included), written to list branch-free; returns how many.
function listNonzero(x: usize, k: i32, list: usize): i32 {
  let count = 0;
  for (let p = 0; p < k; p++) {
    store<i32>(list + ((<usize>count) << 2), p);
    count += i32(load<f32>(x + ((<usize>p) << 2)) != 0);
  }
  return count;
}

// The epilogue's bias and activation over `bytes` of results at out, the first one of column col.
function activateRow(out: usize, col: i32, bytes: usize): void {
  if (epPlain) return;
  const bytes4 = bytes & ~15;
  let o: usize = 0;
  for (; o < bytes4; o += 16, col += 4) v128.store(out + o, activate4(out + o, col, v128.load(out + o)));
  for (; o < bytes; o += 4, col++) store<f32>(out + o, activate1(out + o, col, load<f32>(out + o)));
}

/**
 * out[0..bytes) += alpha·x[p]·(the row of b at base + p·row) for p = list[t0..t1): four weight rows per sweep
 * over the output, so one load and one store of it per four multiply-adds.
 */
function axpyRows(
  x: usize,
  base: usize,
  row: usize,
  out: usize,
  bytes: usize,
  list: usize,
  t0: i32,
  t1: i32,
  alpha: f32,
): void {
  const bytes8 = bytes & ~31;
  const bytes4 = bytes & ~15;
  let t = t0;
  for (; t + 4 <= t1; t += 4) {
    const at = list + ((<usize>t) << 2);
    const p0 = load<i32>(at);
    const p1 = load<i32>(at, 4);
    const p2 = load<i32>(at, 8);
    const p3 = load<i32>(at, 12);
    const v0 = load<f32>(x + ((<usize>p0) << 2)) * alpha;
    const v1 = load<f32>(x + ((<usize>p1) << 2)) * alpha;
    const v2 = load<f32>(x + ((<usize>p2) << 2)) * alpha;
    const v3 = load<f32>(x + ((<usize>p3) << 2)) * alpha;
    const s0 = f32x4.splat(v0);
    const s1 = f32x4.splat(v1);
    const s2 = f32x4.splat(v2);
    const s3 = f32x4.splat(v3);
    let r0 = base + <usize>p0 * row;
    let r1 = base + <usize>p1 * row;
    let r2 = base + <usize>p2 * row;
    let r3 = base + <usize>p3 * row;
    // Every pointer steps on its own, so that no load needs an address computed first (~1.1x here).
    let dst = out;
    const end8 = out + bytes8;
    for (; dst < end8; dst += 32) {
      let y0 = v128.load(dst);
      let y1 = v128.load(dst, 16);
      y0 = madd(s0, v128.load(r0), y0);
      y1 = madd(s0, v128.load(r0, 16), y1);
      y0 = madd(s1, v128.load(r1), y0);
      y1 = madd(s1, v128.load(r1, 16), y1);
      y0 = madd(s2, v128.load(r2), y0);
      y1 = madd(s2, v128.load(r2, 16), y1);
      y0 = madd(s3, v128.load(r3), y0);
      y1 = madd(s3, v128.load(r3, 16), y1);
      v128.store(dst, y0);
      v128.store(dst, y1, 16);
      r0 += 32;
      r1 += 32;
      r2 += 32;
      r3 += 32;
    }
    r0 -= bytes8;
    r1 -= bytes8;
    r2 -= bytes8;
    r3 -= bytes8;
    let o = bytes8;
    for (; o < bytes4; o += 16) {
      let y = v128.load(out + o);
      y = madd(s0, v128.load(r0 + o), y);
      y = madd(s1, v128.load(r1 + o), y);
      y = madd(s2, v128.load(r2 + o), y);
      y = madd(s3, v128.load(r3 + o), y);
      v128.store(out + o, y);
    }
    for (; o < bytes; o += 4) {
      const y = load<f32>(out + o) + v0 * load<f32>(r0 + o) + v1 * load<f32>(r1 + o);
      store<f32>(out + o, y + v2 * load<f32>(r2 + o) + v3 * load<f32>(r3 + o));
    }
  }
  for (; t < t1; t++) {
    const p0 = load<i32>(list + ((<usize>t) << 2));
    const v0 = load<f32>(x + ((<usize>p0) << 2)) * alpha;
    const s0 = f32x4.splat(v0);
    const r0 = base + <usize>p0 * row;
    let o: usize = 0;
    for (; o < bytes4; o += 16) v128.store(out + o, madd(s0, v128.load(r0 + o), v128.load(out + o)));
    for (; o < bytes; o += 4) store<f32>(out + o, load<f32>(out + o) + v0 * load<f32>(r0 + o));
  }
}

function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

// Σ x[p]·y[p] over the byte range [from, to): the k mod 4 tail of a dot product.
function dotTail(x: usize, y: usize, from: usize, to: usize): f32 {
  let s: f32 = 0;
  for (let p = from; p < to; p += 4) s += load<f32>(x + p) * load<f32>(y + p);
  return s;
}

function storeDot(out: usize, col: i32, s: f32, accumulate: i32): void {
  if (epPlain) store<f32>(out, accumulate ? load<f32>(out) + s : s);
  else finish1(out, col, s, accumulate);
}

// a [m×k] → blocks of 4 rows, interleaved by column: dst[(block·k + p)·4 + r] = a[block·4 + r][p], zero padded.
// Full blocks transpose 4x4 tiles in registers.
function packA(a: usize, m: i32, k: i32, dst: usize): void {
  const mp = (m + 3) & ~3;
  if (mp != m) memory.fill(dst + ((<usize>(mp - 4) * k) << 2), 0, (<usize>k) << 4);
  const full = m & ~3;
  const k4 = k & ~3;
  const row = (<usize>k) << 2;
  for (let i = 0; i < full; i += 4) {
    const r0 = a + <usize>i * row;
    const r1 = r0 + row;
    const r2 = r1 + row;
    const r3 = r2 + row;
    let out = dst + ((<usize>i * k) << 2);
    let p = 0;
    for (; p < k4; p += 4) {
      const off = (<usize>p) << 2;
      const x0 = v128.load(r0 + off);
      const x1 = v128.load(r1 + off);
      const x2 = v128.load(r2 + off);
      const x3 = v128.load(r3 + off);
      const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
      const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
      v128.store(out, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      v128.store(out, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 16);
      v128.store(out, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 32);
      v128.store(out, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 48);
      out += 64;
    }
    for (; p < k; p++) {
      const off = (<usize>p) << 2;
      store<f32>(out, load<f32>(r0 + off));
      store<f32>(out, load<f32>(r1 + off), 4);
      store<f32>(out, load<f32>(r2 + off), 8);
      store<f32>(out, load<f32>(r3 + off), 12);
      out += 16;
    }
  }
  for (let i = full; i < m; i++) {
    let src = a + ((<usize>i * k) << 2);
    let out = dst + ((<usize>(i >> 2) * k * 4 + (i & 3)) << 2);
    for (let p = 0; p < k; p++) {
      store<f32>(out, load<f32>(src));
      src += 4;
      out += 16;
    }
  }
}

// a [k×m] read as aᵀ: the 4 values of a block at column p are already contiguous in a's row p.
function packATransposed(a: usize, m: i32, k: i32, dst: usize): void {
  const full = m & ~3;
  let out = dst;
  for (let i = 0; i < full; i += 4) {
    let src = a + ((<usize>i) << 2);
    for (let p = 0; p < k; p++) {
      v128.store(out, v128.load(src));
      src += (<usize>m) << 2;
      out += 16;
    }
  }
  if (full < m) {
    const rest = m - full;
    for (let p = 0; p < k; p++) {
      const src = a + ((<usize>p * m + full) << 2);
      for (let r = 0; r < 4; r++) store<f32>(out + (r << 2), r < rest ? load<f32>(src + (r << 2)) : 0);
      out += 16;
    }
  }
}

// Panel of b [k×n] columns [j, j+cols): dst[p·8 + c] = b[p][j + c], zero padded to 8 columns.
function packB(b: usize, n: i32, j: i32, cols: i32, k: i32, dst: usize): void {
  let src = b + ((<usize>j) << 2);
  const stride = (<usize>n) << 2;
  if (cols == 8) {
    for (let p = 0; p < k; p++) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      src += stride;
      dst += 32;
    }
    return;
  }
  for (let p = 0; p < k; p++) {
    for (let c = 0; c < 8; c++) store<f32>(dst + (c << 2), c < cols ? load<f32>(src + (c << 2)) : 0);
    src += stride;
    dst += 32;
  }
}

// Panel of bᵀ where b is [n×k]: dst[p·8 + c] = b[j + c][p]. Full panels transpose 4x4 blocks in registers.
function packBTransposed(b: usize, j: i32, cols: i32, k: i32, dst: usize): void {
  const row = (<usize>k) << 2;
  const base = b + <usize>j * row;
  if (cols == 8) {
    const k4 = k & ~3;
    for (let half = 0; half < 2; half++) {
      const r0 = base + <usize>(half * 4) * row;
      const r1 = r0 + row;
      const r2 = r1 + row;
      const r3 = r2 + row;
      let out = dst + ((<usize>half) << 4);
      let p = 0;
      for (; p < k4; p += 4) {
        const off = (<usize>p) << 2;
        const x0 = v128.load(r0 + off);
        const x1 = v128.load(r1 + off);
        const x2 = v128.load(r2 + off);
        const x3 = v128.load(r3 + off);
        // 4x4 transpose: t0 = x0[0] x1[0] x0[1] x1[1], …
        const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
        const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
        const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
        v128.store(out, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
        v128.store(out, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32);
        v128.store(out, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64);
        v128.store(out, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96);
        out += 128;
      }
      for (; p < k; p++) {
        const off = (<usize>p) << 2;
        store<f32>(out, load<f32>(r0 + off));
        store<f32>(out, load<f32>(r1 + off), 4);
        store<f32>(out, load<f32>(r2 + off), 8);
        store<f32>(out, load<f32>(r3 + off), 12);
        out += 32;
      }
    }
    return;
  }
  memory.fill(dst, 0, (<usize>k) << 5);
  for (let c = 0; c < cols; c++) {
    let src = base + <usize>c * row;
    let out = dst + ((<usize>c) << 2);
    for (let p = 0; p < k; p++) {
      store<f32>(out, load<f32>(src));
      src += 4;
      out += 32;
    }
  }
}

// c[rows×cols] (+)= pa-block · pb-panel. 8 accumulators + 2 B vectors + 1 broadcast A value: 11 live v128,
// the most Node 20's V8 keeps in registers without spilling.
function microKernel(
  k: i32,
  pa: usize,
  pb: usize,
  c: usize,
  ldc: i32,
  rows: i32,
  cols: i32,
  accumulate: i32,
  tile: usize,
  col: i32,
): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  const end = pb + ((<usize>k) << 5);
  while (pb < end) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let av = v128.load32_splat(pa);
    c00 = madd(av, b0, c00);
    c01 = madd(av, b1, c01);
    av = v128.load32_splat(pa, 4);
    c10 = madd(av, b0, c10);
    c11 = madd(av, b1, c11);
    av = v128.load32_splat(pa, 8);
    c20 = madd(av, b0, c20);
    c21 = madd(av, b1, c21);
    av = v128.load32_splat(pa, 12);
    c30 = madd(av, b0, c30);
    c31 = madd(av, b1, c31);
    pa += 16;
    pb += 32;
  }
  storeTile(c, ldc, rows, cols, accumulate, tile, col, c00, c01, c10, c11, c20, c21, c30, c31);
}

/**
 * microKernel over the `count` columns p of a 4-row block of a that are nonzero in one of its rows (SPARSE A):
 * pa holds their 4 values one after the other and `list` the byte offsets p·32 of their rows in the B panel.
 * One more scalar load per 8 multiply-adds than the dense kernel; zero columns contribute nothing.
 */
function microKernelGatherB(
  count: i32,
  pa: usize,
  list: usize,
  pb: usize,
  c: usize,
  ldc: i32,
  rows: i32,
  cols: i32,
  accumulate: i32,
  tile: usize,
  col: i32,
): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  const end = list + ((<usize>count) << 2);
  while (list < end) {
    const at = pb + <usize>load<u32>(list);
    const b0 = v128.load(at);
    const b1 = v128.load(at, 16);
    let av = v128.load32_splat(pa);
    c00 = madd(av, b0, c00);
    c01 = madd(av, b1, c01);
    av = v128.load32_splat(pa, 4);
    c10 = madd(av, b0, c10);
    c11 = madd(av, b1, c11);
    av = v128.load32_splat(pa, 8);
    c20 = madd(av, b0, c20);
    c21 = madd(av, b1, c21);
    av = v128.load32_splat(pa, 12);
    c30 = madd(av, b0, c30);
    c31 = madd(av, b1, c31);
    pa += 16;
    list += 4;
  }
  storeTile(c, ldc, rows, cols, accumulate, tile, col, c00, c01, c10, c11, c20, c21, c30, c31);
}

/**
 * microKernel over the `count` rows p of the B panel that are not all zero (SPARSE B): pb holds their 8 values
 * one after the other and `list` the byte offsets p·16 of the matching 4 values in the packed A block.
 */
function microKernelGatherA(
  count: i32,
  pa: usize,
  list: usize,
  pb: usize,
  c: usize,
  ldc: i32,
  rows: i32,
  cols: i32,
  accumulate: i32,
  tile: usize,
  col: i32,
): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  const end = list + ((<usize>count) << 2);
  // The next offset one step ahead, as in rowSparseKernel (the 4 bytes past `end` lie in the scratch).
  let next = <usize>load<u32>(list);
  while (list < end) {
    const at = pa + next;
    next = <usize>load<u32>(list, 4);
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let av = v128.load32_splat(at);
    c00 = madd(av, b0, c00);
    c01 = madd(av, b1, c01);
    av = v128.load32_splat(at, 4);
    c10 = madd(av, b0, c10);
    c11 = madd(av, b1, c11);
    av = v128.load32_splat(at, 8);
    c20 = madd(av, b0, c20);
    c21 = madd(av, b1, c21);
    av = v128.load32_splat(at, 12);
    c30 = madd(av, b0, c30);
    c31 = madd(av, b1, c31);
    pb += 32;
    list += 4;
  }
  storeTile(c, ldc, rows, cols, accumulate, tile, col, c00, c01, c10, c11, c20, c21, c30, c31);
}

// Stores a 4x8 tile of results (rows × cols of it valid) at c through the epilogue.
function storeTile(
  c: usize,
  ldc: i32,
  rows: i32,
  cols: i32,
  accumulate: i32,
  tile: usize,
  col: i32,
  c00: v128,
  c01: v128,
  c10: v128,
  c11: v128,
  c20: v128,
  c21: v128,
  c30: v128,
  c31: v128,
): void {
  const stride = (<usize>ldc) << 2;
  if (rows == 4 && cols == 8) {
    let out = c;
    if (!epPlain) {
      finish4(out, col, c00, accumulate);
      finish4(out + 16, col + 4, c01, accumulate);
      out += stride;
      finish4(out, col, c10, accumulate);
      finish4(out + 16, col + 4, c11, accumulate);
      out += stride;
      finish4(out, col, c20, accumulate);
      finish4(out + 16, col + 4, c21, accumulate);
      out += stride;
      finish4(out, col, c30, accumulate);
      finish4(out + 16, col + 4, c31, accumulate);
    } else if (accumulate) {
      v128.store(out, f32x4.add(v128.load(out), c00));
      v128.store(out, f32x4.add(v128.load(out, 16), c01), 16);
      out += stride;
      v128.store(out, f32x4.add(v128.load(out), c10));
      v128.store(out, f32x4.add(v128.load(out, 16), c11), 16);
      out += stride;
      v128.store(out, f32x4.add(v128.load(out), c20));
      v128.store(out, f32x4.add(v128.load(out, 16), c21), 16);
      out += stride;
      v128.store(out, f32x4.add(v128.load(out), c30));
      v128.store(out, f32x4.add(v128.load(out, 16), c31), 16);
    } else {
      v128.store(out, c00);
      v128.store(out, c01, 16);
      out += stride;
      v128.store(out, c10);
      v128.store(out, c11, 16);
      out += stride;
      v128.store(out, c20);
      v128.store(out, c21, 16);
      out += stride;
      v128.store(out, c30);
      v128.store(out, c31, 16);
    }
    return;
  }
  // Edge tile: spill to the scratch tile, then copy the valid part.
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  v128.store(tile, c30, 96);
  v128.store(tile, c31, 112);
  for (let r = 0; r < rows; r++) {
    const out = c + <usize>r * stride;
    const src = tile + ((<usize>r) << 5);
    for (let j = 0; j < cols; j++) {
      const o = out + ((<usize>j) << 2);
      const v = load<f32>(src + ((<usize>j) << 2));
      if (epPlain) store<f32>(o, accumulate ? load<f32>(o) + v : v);
      else finish1(o, col + j, v, accumulate);
    }
  }
}

/**
 * Bytes of scratch `linearInt8` needs: the quantized activations (int16 with k padded to 8) and each row's scale,
 * or in the relaxed builds what `u7ScratchBytes` says (int8-u7.ts).
 */
export function int8ScratchBytes(m: i32, k: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) return u7ScratchBytes(m, k);
  return m * ((k + 7) & ~7) * 2 + m * 4 + 16;
}

/** Bytes of scratch the pair-layout int8 layer (INT8_LAYOUT 1) needs per thread for `width` outputs. */
export function int8PairRowsScratchBytes(k: i32, width: i32): i32 {
  return u7PairRowsScratchBytes(k, width);
}

// Each int32 lane sums k/4 products of at most 32767·128; 2048 columns keep that below 2^31.
const INT8_CHUNK: i32 = 2048;

// The LeakyReLU of the current int8 task, if any; globals are per instance, so per thread.
let int8Leaky: bool = false;
let int8Slope: f32 = 0;

// One result of linearInt8 as stored: through the LeakyReLU when the call has one. Branch-free: the sign of a
// hidden unit is data, and a mispredicted branch per output costs more than the select.
function int8Out(r: f32): f32 {
  return int8Leaky ? select<f32>(r, r * int8Slope, r > 0) : r;
}

// Four results d ⊙ scale + bias of columns [j, j+4) of linearInt8 (sc, bi at column j), stored at out.
function int8Out4(out: usize, d0: f32, d1: f32, d2: f32, d3: f32, sc: usize, bi: usize): void {
  let d = f32x4.replace_lane(f32x4.splat(d0), 1, d1);
  d = f32x4.replace_lane(f32x4.replace_lane(d, 2, d2), 3, d3);
  let r = f32x4.add(f32x4.mul(d, v128.load(sc)), v128.load(bi));
  if (int8Leaky) r = v128.bitselect(r, f32x4.mul(r, f32x4.splat(int8Slope)), f32x4.gt(r, f32x4.splat(0)));
  v128.store(out, r);
}

/**
 * Columns [j0, j1) of y[m×n] = (x · qᵀ) ⊙ scale + bias with q int8 [n×k]. The plain SIMD build quantizes each row
 * of x to int16 with its own scale and multiplies 8 pairs per `i32x4.dot_i16x8_s`. The relaxed builds run
 * `linearU7Columns` (int8-u7.ts): 6-bit activations with a zero point, 16 pairs per i8×i7 relaxed dot, blocked
 * 4 weight rows × 2 activation rows, skipping all-zero 16-column blocks; with `layout` 1 (q in input pairs,
 * INT8_LAYOUT) `linearU7PairRows`.
 * With int8Leaky set (KIND_LINEAR_INT8), each result r is stored as LeakyReLU(r) = r > 0 ? r : slope·r.
 */
function linearInt8Columns(
  m: i32,
  n: i32,
  k: i32,
  x: usize,
  q: usize,
  scale: usize,
  bias: usize,
  rowSums: usize,
  y: usize,
  scratch: usize,
  j0: i32,
  j1: i32,
  layout: i32,
  counter: usize,
): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (layout == 1)
      linearU7PairRows(
        m,
        n,
        k,
        x,
        q,
        scale,
        bias,
        rowSums,
        y,
        scratch,
        j0,
        j1,
        int8Leaky,
        int8Slope,
        counter,
      );
    else
      linearU7Columns(m, n, k, x, q, scale, bias, rowSums, y, scratch, j0, j1, int8Leaky, int8Slope, counter);
    return;
  }
  // Only the relaxed builds have the pair layout and shares (the loader offers them only there).
  if (layout != 0 || counter != 0) unreachable();
  const kp = (k + 7) & ~7;
  const xq = scratch;
  const xs = (xq + ((<usize>m * kp) << 1) + 15) & ~15;
  for (let i = 0; i < m; i++) {
    store<f32>(
      xs + ((<usize>i) << 2),
      quantizeRow(x + ((<usize>i * k) << 2), k, kp, xq + ((<usize>i * kp) << 1)),
    );
  }
  // j outer: 4 weight rows (4·k bytes) stay in L1 while the quantized rows of x stream past them.
  const jEnd = j0 + ((j1 - j0) & ~3);
  for (let j = j0; j < jEnd; j += 4) {
    const q0 = q + <usize>j * k;
    const q1 = q0 + k;
    const q2 = q1 + k;
    const q3 = q2 + k;
    const sc = scale + ((<usize>j) << 2);
    const bi = bias + ((<usize>j) << 2);
    for (let i = 0; i < m; i++) {
      const xrow = xq + ((<usize>i * kp) << 1);
      const sx = load<f32>(xs + ((<usize>i) << 2));
      let s0: f64 = 0;
      let s1: f64 = 0;
      let s2: f64 = 0;
      let s3: f64 = 0;
      for (let c0 = 0; c0 < kp; c0 += INT8_CHUNK) {
        const end = min(kp, c0 + INT8_CHUNK);
        let a0 = i32x4.splat(0);
        let a1 = i32x4.splat(0);
        let a2 = i32x4.splat(0);
        let a3 = i32x4.splat(0);
        for (let p = c0; p < end; p += 8) {
          const xv = v128.load(xrow + ((<usize>p) << 1));
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xv, v128.load8x8_s(q0 + p)));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xv, v128.load8x8_s(q1 + p)));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xv, v128.load8x8_s(q2 + p)));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xv, v128.load8x8_s(q3 + p)));
        }
        s0 += laneSum(a0);
        s1 += laneSum(a1);
        s2 += laneSum(a2);
        s3 += laneSum(a3);
      }
      const o = y + ((<usize>i * n + j) << 2);
      int8Out4(o, <f32>(s0 * sx), <f32>(s1 * sx), <f32>(s2 * sx), <f32>(s3 * sx), sc, bi);
    }
  }
  for (let j = jEnd; j < j1; j++) {
    const qj = q + <usize>j * k;
    for (let i = 0; i < m; i++) {
      const xrow = xq + ((<usize>i * kp) << 1);
      const sx = load<f32>(xs + ((<usize>i) << 2));
      let s: f64 = 0;
      for (let c0 = 0; c0 < kp; c0 += INT8_CHUNK) {
        const end = min(kp, c0 + INT8_CHUNK);
        let a0 = i32x4.splat(0);
        for (let p = c0; p < end; p += 8) {
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(xrow + ((<usize>p) << 1)), v128.load8x8_s(qj + p)));
        }
        s += laneSum(a0);
      }
      store<f32>(
        y + ((<usize>i * n + j) << 2),
        int8Out(<f32>(s * sx * load<f32>(scale + ((<usize>j) << 2))) + load<f32>(bias + ((<usize>j) << 2))),
      );
    }
  }
}

function laneSum(v: v128): f64 {
  return (
    <f64>i32x4.extract_lane(v, 0) +
    <f64>i32x4.extract_lane(v, 1) +
    <f64>i32x4.extract_lane(v, 2) +
    <f64>i32x4.extract_lane(v, 3)
  );
}

// Symmetric int16 quantization of one row (round to nearest, zero padded to kp); returns the scale.
function quantizeRow(x: usize, k: i32, kp: i32, dst: usize): f32 {
  let mx = f32x4.splat(0);
  const k4 = k & ~3;
  let p = 0;
  for (; p < k4; p += 4) mx = f32x4.max(mx, f32x4.abs(v128.load(x + ((<usize>p) << 2))));
  let amax = max(
    max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)),
    max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)),
  );
  for (; p < k; p++) amax = max(amax, abs(load<f32>(x + ((<usize>p) << 2))));
  memory.fill(dst + ((<usize>k4) << 1), 0, (<usize>(kp - k4)) << 1);
  // An all-zero row has scale 0; a NaN or infinite value makes the whole row NaN, as float math would.
  if (amax == 0 || !isFinite(amax)) {
    memory.fill(dst, 0, (<usize>kp) << 1);
    return amax == 0 ? 0 : NaN;
  }
  const inv: f32 = 32767 / amax;
  const iv = f32x4.splat(inv);
  const k8 = k & ~7;
  p = 0;
  for (; p < k8; p += 8) {
    const lo = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x + ((<usize>p) << 2)), iv)));
    const hi = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x + ((<usize>p) << 2), 16), iv)));
    v128.store(dst + ((<usize>p) << 1), i16x8.narrow_i32x4_s(lo, hi));
  }
  for (; p < k; p++)
    store<i16>(dst + ((<usize>p) << 1), <i16>(<i32>nearest(load<f32>(x + ((<usize>p) << 2)) * inv)));
  return amax / 32767;
}

/** SGD step over n floats: g' = g + l1·sign(w) + l2x2·w; with momentum v = μv + g', w -= lr·v; else w -= lr·g'. */
function sgdUpdate(
  w: usize,
  g: usize,
  v: usize,
  n: i32,
  lr: f32,
  momentum: f32,
  l1: f32,
  l2x2: f32,
  useMomentum: i32,
): void {
  const lrv = f32x4.splat(lr);
  const muv = f32x4.splat(momentum);
  const l1v = f32x4.splat(l1);
  const l2v = f32x4.splat(l2x2);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const off = (<usize>i) << 2;
    const wi = v128.load(w + off);
    const gi = f32x4.add(f32x4.add(v128.load(g + off), f32x4.mul(l1v, sign4(wi))), f32x4.mul(l2v, wi));
    if (useMomentum) {
      const vi = f32x4.add(f32x4.mul(muv, v128.load(v + off)), gi);
      v128.store(v + off, vi);
      v128.store(w + off, f32x4.sub(wi, f32x4.mul(lrv, vi)));
    } else {
      v128.store(w + off, f32x4.sub(wi, f32x4.mul(lrv, gi)));
    }
  }
  for (; i < n; i++) {
    const off = (<usize>i) << 2;
    const wi = load<f32>(w + off);
    const gi = load<f32>(g + off) + l1 * sign1(wi) + l2x2 * wi;
    if (useMomentum) {
      const vi = momentum * load<f32>(v + off) + gi;
      store<f32>(v + off, vi);
      store<f32>(w + off, wi - lr * vi);
    } else {
      store<f32>(w + off, wi - lr * gi);
    }
  }
}

/** Adam step over n floats: w -= stepSize·m / (sqrt(v / c2) + eps), with L1/L2 added to g as in sgdUpdate. */
function adamUpdate(
  w: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  stepSize: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  c2: f32,
  l1: f32,
  l2x2: f32,
): void {
  const b1 = f32x4.splat(beta1);
  const b2 = f32x4.splat(beta2);
  const ob1 = f32x4.splat(1 - beta1);
  const ob2 = f32x4.splat(1 - beta2);
  const ssv = f32x4.splat(stepSize);
  const epsv = f32x4.splat(eps);
  const c2v = f32x4.splat(c2);
  const l1v = f32x4.splat(l1);
  const l2v = f32x4.splat(l2x2);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const off = (<usize>i) << 2;
    const wi = v128.load(w + off);
    const gi = f32x4.add(f32x4.add(v128.load(g + off), f32x4.mul(l1v, sign4(wi))), f32x4.mul(l2v, wi));
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + off)), f32x4.mul(ob1, gi));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + off)), f32x4.mul(f32x4.mul(ob2, gi), gi));
    v128.store(m + off, mi);
    v128.store(v + off, vi);
    const den = f32x4.add(f32x4.sqrt(f32x4.div(vi, c2v)), epsv);
    v128.store(w + off, f32x4.sub(wi, f32x4.div(f32x4.mul(ssv, mi), den)));
  }
  for (; i < n; i++) {
    const off = (<usize>i) << 2;
    const wi = load<f32>(w + off);
    const gi = load<f32>(g + off) + l1 * sign1(wi) + l2x2 * wi;
    const mi = beta1 * load<f32>(m + off) + (1 - beta1) * gi;
    const vi = beta2 * load<f32>(v + off) + (1 - beta2) * gi * gi;
    store<f32>(m + off, mi);
    store<f32>(v + off, vi);
    store<f32>(w + off, wi - (stepSize * mi) / (sqrt(vi / c2) + eps));
  }
}

// sign(w) per lane as Math.sign: 1, -1 or 0 (NaN → 0 here, a NaN weight is lost anyway).
function sign4(w: v128): v128 {
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  return f32x4.sub(v128.and(f32x4.gt(w, zero), one), v128.and(f32x4.lt(w, zero), one));
}

function sign1(w: f32): f32 {
  return w > 0 ? 1 : w < 0 ? -1 : 0;
}

/**
 * out[j] = Σ_p q[j·k + p] for the n rows of int8 weights q [n×k], 16 at a time through widening pair sums, in
 * exact integers converted once (exact in f32 while 127·k < 2^24). Run once per weight matrix when a model is
 * loaded, where a cold JavaScript loop over a fresh isolate's 1.3 M weights took ~4 ms.
 */
function int8RowSums(n: i32, k: i32, q: usize, out: usize): void {
  const k16 = k & ~15;
  for (let j = 0; j < n; j++) {
    const row = q + <usize>j * k;
    let acc = i32x4.splat(0);
    for (let p = 0; p < k16; p += 16) {
      acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(row + p))));
    }
    let s =
      i32x4.extract_lane(acc, 0) +
      i32x4.extract_lane(acc, 1) +
      i32x4.extract_lane(acc, 2) +
      i32x4.extract_lane(acc, 3);
    for (let p = k16; p < k; p++) s += <i32>load<i8>(row + p);
    store<f32>(out + ((<usize>j) << 2), <f32>s);
  }
}
