/**
 * @module
 * The task interface of the kernels module, AssemblyScript side: `runTask(block)` runs the task whose parameter
 * block starts at `block` (in linear memory). Every block starts with its kind (i32 at TASK_KIND); each kind has
 * its own fields, one i32/u32/f32 per 4 bytes at the offsets below. The TypeScript side declares the same offsets
 * once, in `src/kernels/task-layout.ts`; a test checks that every exported constant here matches it.
 * Helper threads get the address of a block, so one entry point serves the calling thread and its helpers.
 */

/** Bytes reserved for each task block. */
export const TASK_BYTES: i32 = 128;
/** Offset of the kind in every block. */
export const TASK_KIND: i32 = 0;

// Task kinds.
/** Columns [j0, j1) of c = op(a)·op(b), through the epilogue. */
export const KIND_GEMM: i32 = 1;
/** Few rows of c = a·b (layout NN) over part `part` of `parts` of each row's nonzero inputs, no bias/activation. */
export const KIND_ROWS_PART: i32 = 2;
/** c += the partial products of KIND_ROWS_PART helpers, then the epilogue's bias and activation. */
export const KIND_REDUCE_ROWS: i32 = 3;
/** Columns [j0, j1) of the int8 layer y = (x·qᵀ) ⊙ scale + bias (then LeakyReLU). */
export const KIND_LINEAR_INT8: i32 = 4;
/** Elements [i0, i1) of an SGD step. */
export const KIND_SGD: i32 = 5;
/** An Adam step over n elements. */
export const KIND_ADAM: i32 = 6;
/** int8 weights [n×k] re-laid in input pairs (`int8PairRows`), for the pair layout of KIND_LINEAR_INT8. */
export const KIND_PAIR_ROWS: i32 = 7;
/** The sums of the rows of int8 weights q [n×k], as f32 (exact), for the int8 layer's zero-point correction. */
export const KIND_ROW_SUMS: i32 = 8;

// GEMM layouts: which operand is stored transposed.
/** c = a·b, a [m×k], b [k×n]. */
export const LAYOUT_NN: i32 = 0;
/** c = aᵀ·b, a [k×m], b [k×n]. */
export const LAYOUT_TN: i32 = 1;
/** c = a·bᵀ, a [m×k], b [n×k]. */
export const LAYOUT_NT: i32 = 2;

// Activations of an epilogue.
/** Store r. */
export const ACTIVATION_NONE: i32 = 0;
/** Store LeakyReLU(r) = r > 0 ? r : slope·r (a layer's forward). */
export const ACTIVATION_LEAKY: i32 = 1;
/** Store r·(gate > 0 ? 1 : slope), gate laid out like c (the gradient through a LeakyReLU whose output is gate). */
export const ACTIVATION_GATE: i32 = 2;

// The epilogue, a sub-block of the GEMM and reduce blocks: r = alpha·product (+ old c) + bias, then the activation.
export const EPILOGUE_ALPHA: i32 = 0; // f32
export const EPILOGUE_BIAS: i32 = 4; // u32 pointer, one value per column of c; 0 for none
export const EPILOGUE_ACTIVATION: i32 = 8; // i32, ACTIVATION_*
export const EPILOGUE_SLOPE: i32 = 12; // f32
export const EPILOGUE_GATE: i32 = 16; // u32 pointer, laid out like c
export const EPILOGUE_BYTES: i32 = 20;

// KIND_GEMM.
export const GEMM_LAYOUT: i32 = 4; // i32, LAYOUT_*
export const GEMM_M: i32 = 8;
export const GEMM_N: i32 = 12;
export const GEMM_K: i32 = 16;
export const GEMM_A: i32 = 20; // u32 pointer
export const GEMM_B: i32 = 24; // u32 pointer
export const GEMM_C: i32 = 28; // u32 pointer
export const GEMM_ACCUMULATE: i32 = 32; // i32, 1: add the old c
export const GEMM_J0: i32 = 36; // first column (a multiple of 8)
export const GEMM_J1: i32 = 40; // end column
export const GEMM_SCRATCH: i32 = 44; // u32 pointer, gemmScratchBytes (or the few-row paths' need)
export const GEMM_EPILOGUE: i32 = 48; // EPILOGUE_BYTES
/**
 * u32 pointer to an i32 shared by the threads of one GEMM (0 before the call), or 0: each thread then takes
 * shares of 32 columns of [j0, j1) from it until none is left, instead of running [j0, j1) alone, so that a
 * thread that runs late (a busy machine) leaves its work to the others. Only the packed paths read it.
 */
export const GEMM_COUNTER: i32 = 68;
/** i32, layouts NN and TN: elements from one row of b [k×…] to the next; 0 for n (b's n columns are whole rows). */
export const GEMM_LDB: i32 = 72;
/** i32, 1: the few-row NN path reads a through ReLU (inputs ≤ 0 count as 0; NaN stays). Other paths ignore it. */
export const GEMM_RELU_INPUT: i32 = 76;

// KIND_ROWS_PART.
export const ROWS_M: i32 = 4;
export const ROWS_N: i32 = 8;
export const ROWS_K: i32 = 12;
export const ROWS_A: i32 = 16; // u32 pointer, a [m×k]
export const ROWS_B: i32 = 20; // u32 pointer, b [k×n]
export const ROWS_C: i32 = 24; // u32 pointer, c [m×n], or this part's partial product
export const ROWS_ACCUMULATE: i32 = 28; // i32
export const ROWS_PART: i32 = 32; // i32, which part
export const ROWS_PARTS: i32 = 36; // i32, of how many
export const ROWS_LIST: i32 = 40; // u32 pointer, k·4 bytes of scratch
export const ROWS_ALPHA: i32 = 44; // f32
export const ROWS_LDB: i32 = 48; // i32, as GEMM_LDB
export const ROWS_RELU_INPUT: i32 = 52; // i32, as GEMM_RELU_INPUT

// KIND_REDUCE_ROWS.
export const REDUCE_M: i32 = 4;
export const REDUCE_N: i32 = 8;
export const REDUCE_C: i32 = 12; // u32 pointer
export const REDUCE_PARTIALS: i32 = 16; // u32 pointer, `count` products laid out like c, `stride` bytes apart
export const REDUCE_COUNT: i32 = 20;
export const REDUCE_STRIDE: i32 = 24;
export const REDUCE_EPILOGUE: i32 = 28; // EPILOGUE_BYTES

// KIND_LINEAR_INT8.
export const INT8_M: i32 = 4;
export const INT8_N: i32 = 8;
export const INT8_K: i32 = 12;
export const INT8_X: i32 = 16; // u32 pointer, x [m×k] f32
export const INT8_Q: i32 = 20; // u32 pointer, q [n×k] i8
export const INT8_SCALE: i32 = 24; // u32 pointer, [n] f32
export const INT8_BIAS: i32 = 28; // u32 pointer, [n] f32
export const INT8_ROW_SUMS: i32 = 32; // u32 pointer, [n] f32, or 0
export const INT8_Y: i32 = 36; // u32 pointer, y [m×n] f32
export const INT8_SCRATCH: i32 = 40; // u32 pointer, int8ScratchBytes
export const INT8_J0: i32 = 44;
export const INT8_J1: i32 = 48;
export const INT8_LEAKY: i32 = 52; // i32, 1: through LeakyReLU
export const INT8_SLOPE: i32 = 56; // f32
export const INT8_LAYOUT: i32 = 60; // i32, 0: q [n×k] rows; 1: q in input pairs (int8PairRows), relaxed builds only
/**
 * u32 pointer to a shared i32 (0 before the call), or 0: as GEMM_COUNTER, relaxed builds only; layout 1 shares
 * out rows (SHARE_ROWS, every thread all of [j0, j1)) instead of columns.
 */
export const INT8_COUNTER: i32 = 64;

// KIND_PAIR_ROWS: out[(p·n + j)·2 + e] = q[j·k + 2p + e], 0 past k.
export const PAIRS_N: i32 = 4;
export const PAIRS_K: i32 = 8;
export const PAIRS_Q: i32 = 12; // u32 pointer, q [n×k] i8
export const PAIRS_OUT: i32 = 16; // u32 pointer, n·2·⌈k/2⌉ i8

// KIND_ROW_SUMS: out[j] = Σ_p q[j·k + p].
export const SUMS_N: i32 = 4;
export const SUMS_K: i32 = 8;
export const SUMS_Q: i32 = 12; // u32 pointer, q [n×k] i8
export const SUMS_OUT: i32 = 16; // u32 pointer, [n] f32

// KIND_SGD: w -= lr·(momentum ? v = μv + g' : g') with g' = g + l1·sign(w) + l2x2·w, elements [i0, i1).
export const SGD_W: i32 = 4; // u32 pointer
export const SGD_G: i32 = 8; // u32 pointer
export const SGD_V: i32 = 12; // u32 pointer, or 0 without momentum
export const SGD_I0: i32 = 16;
export const SGD_I1: i32 = 20;
export const SGD_LR: i32 = 24; // f32
export const SGD_MOMENTUM: i32 = 28; // f32
export const SGD_L1: i32 = 32; // f32
export const SGD_L2X2: i32 = 36; // f32, 2·l2
export const SGD_USE_MOMENTUM: i32 = 40; // i32

// KIND_ADAM: w -= stepSize·m / (sqrt(v / c2) + eps), L1/L2 added to g as in SGD.
export const ADAM_W: i32 = 4; // u32 pointer
export const ADAM_G: i32 = 8;
export const ADAM_M: i32 = 12;
export const ADAM_V: i32 = 16;
export const ADAM_N: i32 = 20;
export const ADAM_STEP_SIZE: i32 = 24; // f32, lr / (1 − beta1^t)
export const ADAM_BETA1: i32 = 28; // f32
export const ADAM_BETA2: i32 = 32; // f32
export const ADAM_EPS: i32 = 36; // f32
export const ADAM_C2: i32 = 40; // f32, 1 − beta2^t
export const ADAM_L1: i32 = 44; // f32
export const ADAM_L2X2: i32 = 48; // f32
