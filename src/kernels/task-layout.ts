/**
 * @module
 * The task interface of the kernels module, TypeScript side: the kinds and the field offsets of each task's
 * parameter block, declared once here as `assembly/tasks.ts` declares them once there (a test checks that the
 * two agree, constant by constant). `TaskWriter` fills a block; the
 * module's `runTask(block)` runs it.
 * Pure: no Node or Workers APIs.
 */

/** Each group's constants, as the module exports them: `${prefix}_${FIELD}` (camelCase → UPPER_SNAKE). */
export const TASK_LAYOUT = {
  TASK: { bytes: 128, kind: 0 },
  KIND: { gemm: 1, rowsPart: 2, reduceRows: 3, linearInt8: 4, sgd: 5, adam: 6, pairRows: 7, rowSums: 8 },
  LAYOUT: { nn: 0, tn: 1, nt: 2 },
  ACTIVATION: { none: 0, leaky: 1, gate: 2 },
  EPILOGUE: { alpha: 0, bias: 4, activation: 8, slope: 12, gate: 16, bytes: 20 },
  GEMM: {
    layout: 4,
    m: 8,
    n: 12,
    k: 16,
    a: 20,
    b: 24,
    c: 28,
    accumulate: 32,
    j0: 36,
    j1: 40,
    scratch: 44,
    epilogue: 48,
    counter: 68,
    ldb: 72,
    reluInput: 76,
  },
  ROWS: {
    m: 4,
    n: 8,
    k: 12,
    a: 16,
    b: 20,
    c: 24,
    accumulate: 28,
    part: 32,
    parts: 36,
    list: 40,
    alpha: 44,
    ldb: 48,
    reluInput: 52,
  },
  REDUCE: { m: 4, n: 8, c: 12, partials: 16, count: 20, stride: 24, epilogue: 28 },
  INT8: {
    m: 4,
    n: 8,
    k: 12,
    x: 16,
    q: 20,
    scale: 24,
    bias: 28,
    rowSums: 32,
    y: 36,
    scratch: 40,
    j0: 44,
    j1: 48,
    leaky: 52,
    slope: 56,
    layout: 60,
    counter: 64,
  },
  PAIRS: { n: 4, k: 8, q: 12, out: 16 },
  SUMS: { n: 4, k: 8, q: 12, out: 16 },
  SGD: {
    w: 4,
    g: 8,
    v: 12,
    i0: 16,
    i1: 20,
    lr: 24,
    momentum: 28,
    l1: 32,
    l2x2: 36,
    useMomentum: 40,
  },
  ADAM: {
    w: 4,
    g: 8,
    m: 12,
    v: 16,
    n: 20,
    stepSize: 24,
    beta1: 28,
    beta2: 32,
    eps: 36,
    c2: 40,
    l1: 44,
    l2x2: 48,
  },
} as const;

const { TASK, KIND, EPILOGUE, GEMM, ROWS, REDUCE, INT8, PAIRS, SUMS, SGD, ADAM } = TASK_LAYOUT;
export const TASK_BYTES = TASK.bytes;
export const Layout = TASK_LAYOUT.LAYOUT;
export const Activation = TASK_LAYOUT.ACTIVATION;

/** The module's exported name of a constant: `GEMM` + `rowSums` → `GEMM_ROW_SUMS`. */
export function exportName(prefix: string, field: string): string {
  return `${prefix}_${field.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** What is stored as a GEMM's results are: r = alpha·product (+ old c) + bias, then the activation. */
export interface EpilogueFields {
  alpha: number;
  /** Address of one value per column of c, or 0. */
  bias: number;
  activation: (typeof Activation)[keyof typeof Activation];
  slope: number;
  /** Address of the gate, laid out like c (ACTIVATION.gate), or 0. */
  gate: number;
}

type Fields<G> = { -readonly [F in keyof G]: number };

export type GemmFields = Omit<Fields<typeof GEMM>, 'epilogue'>;
export type RowsFields = Fields<typeof ROWS>;
export type ReduceFields = Omit<Fields<typeof REDUCE>, 'epilogue'>;
export type Int8Fields = Fields<typeof INT8>;
export type PairsFields = Fields<typeof PAIRS>;
export type SumsFields = Fields<typeof SUMS>;
export type SgdFields = Fields<typeof SGD>;
export type AdamFields = Fields<typeof ADAM>;

/**
 * Writers of parameter blocks at byte `at` of the module's memory. Addresses and counts are i32 (addresses stay
 * below 2 GiB, so u32 and i32 agree); the fields the module reads as f32 are written as f32.
 */
export class TaskWriter {
  constructor(private readonly view: DataView) {}

  gemm(at: number, f: GemmFields, e: EpilogueFields): void {
    const v = this.view;
    v.setInt32(at + TASK.kind, KIND.gemm, true);
    v.setInt32(at + GEMM.layout, f.layout, true);
    v.setInt32(at + GEMM.m, f.m, true);
    v.setInt32(at + GEMM.n, f.n, true);
    v.setInt32(at + GEMM.k, f.k, true);
    v.setInt32(at + GEMM.a, f.a, true);
    v.setInt32(at + GEMM.b, f.b, true);
    v.setInt32(at + GEMM.c, f.c, true);
    v.setInt32(at + GEMM.accumulate, f.accumulate, true);
    v.setInt32(at + GEMM.j0, f.j0, true);
    v.setInt32(at + GEMM.j1, f.j1, true);
    v.setInt32(at + GEMM.scratch, f.scratch, true);
    v.setInt32(at + GEMM.counter, f.counter, true);
    v.setInt32(at + GEMM.ldb, f.ldb, true);
    v.setInt32(at + GEMM.reluInput, f.reluInput, true);
    this.epilogue(at + GEMM.epilogue, e);
  }

  rowsPart(at: number, f: RowsFields): void {
    const v = this.view;
    v.setInt32(at + TASK.kind, KIND.rowsPart, true);
    v.setInt32(at + ROWS.m, f.m, true);
    v.setInt32(at + ROWS.n, f.n, true);
    v.setInt32(at + ROWS.k, f.k, true);
    v.setInt32(at + ROWS.a, f.a, true);
    v.setInt32(at + ROWS.b, f.b, true);
    v.setInt32(at + ROWS.c, f.c, true);
    v.setInt32(at + ROWS.accumulate, f.accumulate, true);
    v.setInt32(at + ROWS.part, f.part, true);
    v.setInt32(at + ROWS.parts, f.parts, true);
    v.setInt32(at + ROWS.list, f.list, true);
    v.setFloat32(at + ROWS.alpha, f.alpha, true);
    v.setInt32(at + ROWS.ldb, f.ldb, true);
    v.setInt32(at + ROWS.reluInput, f.reluInput, true);
  }

  reduceRows(at: number, f: ReduceFields, e: EpilogueFields): void {
    const v = this.view;
    v.setInt32(at + TASK.kind, KIND.reduceRows, true);
    v.setInt32(at + REDUCE.m, f.m, true);
    v.setInt32(at + REDUCE.n, f.n, true);
    v.setInt32(at + REDUCE.c, f.c, true);
    v.setInt32(at + REDUCE.partials, f.partials, true);
    v.setInt32(at + REDUCE.count, f.count, true);
    v.setInt32(at + REDUCE.stride, f.stride, true);
    this.epilogue(at + REDUCE.epilogue, e);
  }

  linearInt8(at: number, f: Int8Fields): void {
    const v = this.view;
    v.setInt32(at + TASK.kind, KIND.linearInt8, true);
    v.setInt32(at + INT8.m, f.m, true);
    v.setInt32(at + INT8.n, f.n, true);
    v.setInt32(at + INT8.k, f.k, true);
    v.setInt32(at + INT8.x, f.x, true);
    v.setInt32(at + INT8.q, f.q, true);
    v.setInt32(at + INT8.scale, f.scale, true);
    v.setInt32(at + INT8.bias, f.bias, true);
    v.setInt32(at + INT8.rowSums, f.rowSums, true);
    v.setInt32(at + INT8.y, f.y, true);
    v.setInt32(at + INT8.scratch, f.scratch, true);
    v.setInt32(at + INT8.j0, f.j0, true);
    v.setInt32(at + INT8.j1, f.j1, true);
    v.setInt32(at + INT8.leaky, f.leaky, true);
    v.setFloat32(at + INT8.slope, f.slope, true);
    v.setInt32(at + INT8.layout, f.layout, true);
    v.setInt32(at + INT8.counter, f.counter, true);
  }

  pairRows(at: number, f: PairsFields): void {
    const v = this.view;
    v.setInt32(at + TASK.kind, KIND.pairRows, true);
    v.setInt32(at + PAIRS.n, f.n, true);
    v.setInt32(at + PAIRS.k, f.k, true);
    v.setInt32(at + PAIRS.q, f.q, true);
    v.setInt32(at + PAIRS.out, f.out, true);
  }

  rowSums(at: number, f: SumsFields): void {
    const v = this.view;
    v.setInt32(at + TASK.kind, KIND.rowSums, true);
    v.setInt32(at + SUMS.n, f.n, true);
    v.setInt32(at + SUMS.k, f.k, true);
    v.setInt32(at + SUMS.q, f.q, true);
    v.setInt32(at + SUMS.out, f.out, true);
  }

  sgd(at: number, f: SgdFields): void {
    const v = this.view;
    v.setInt32(at + TASK.kind, KIND.sgd, true);
    v.setInt32(at + SGD.w, f.w, true);
    v.setInt32(at + SGD.g, f.g, true);
    v.setInt32(at + SGD.v, f.v, true);
    v.setInt32(at + SGD.i0, f.i0, true);
    v.setInt32(at + SGD.i1, f.i1, true);
    v.setFloat32(at + SGD.lr, f.lr, true);
    v.setFloat32(at + SGD.momentum, f.momentum, true);
    v.setFloat32(at + SGD.l1, f.l1, true);
    v.setFloat32(at + SGD.l2x2, f.l2x2, true);
    v.setInt32(at + SGD.useMomentum, f.useMomentum, true);
  }

  adam(at: number, f: AdamFields): void {
    const v = this.view;
    v.setInt32(at + TASK.kind, KIND.adam, true);
    v.setInt32(at + ADAM.w, f.w, true);
    v.setInt32(at + ADAM.g, f.g, true);
    v.setInt32(at + ADAM.m, f.m, true);
    v.setInt32(at + ADAM.v, f.v, true);
    v.setInt32(at + ADAM.n, f.n, true);
    v.setFloat32(at + ADAM.stepSize, f.stepSize, true);
    v.setFloat32(at + ADAM.beta1, f.beta1, true);
    v.setFloat32(at + ADAM.beta2, f.beta2, true);
    v.setFloat32(at + ADAM.eps, f.eps, true);
    v.setFloat32(at + ADAM.c2, f.c2, true);
    v.setFloat32(at + ADAM.l1, f.l1, true);
    v.setFloat32(at + ADAM.l2x2, f.l2x2, true);
  }

  private epilogue(at: number, e: EpilogueFields): void {
    const v = this.view;
    v.setFloat32(at + EPILOGUE.alpha, e.alpha, true);
    v.setInt32(at + EPILOGUE.bias, e.bias, true);
    v.setInt32(at + EPILOGUE.activation, e.activation, true);
    v.setFloat32(at + EPILOGUE.slope, e.slope, true);
    v.setInt32(at + EPILOGUE.gate, e.gate, true);
  }
}
