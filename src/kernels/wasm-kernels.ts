/**
 * @module
 * The WebAssembly SIMD kernels behind the `Kernels` interface: memory management (a fixed reserve with a
 * first-fit free list, so views never detach) and the calls into the compiled module. Pure: no Node or Workers
 * APIs; threads are plugged in through `TaskThreads`, which the Node loader provides. Every call writes task
 * blocks (`task-layout.ts`) and runs them through the module's one entry point, `runTask`.
 */
import {
  int8PairRowsLength,
  type AdamOptions,
  type Kernels,
  type LinearTOptions,
  type UpdateOptions,
} from './kernels.ts';
import { ALIGN, FreeList } from './free-list.ts';
import { Activation, Layout, TASK_BYTES, TaskWriter, type EpilogueFields } from './task-layout.ts';

/** Runs tasks on several threads sharing one `WebAssembly.Memory`. */
export interface TaskThreads {
  /** Threads available, the caller included. */
  readonly count: number;
  /**
   * Runs the task block at address `tasks[t]` for t ≥ 1 on helper thread t−1 (through the module's `runTask`)
   * and `tasks[0]` through `runLocal` on the caller, returning once all are done.
   * @throws Error when a helper thread failed.
   */
  run(tasks: readonly number[], runLocal: (task: number) => void): void;
}

export interface WasmKernelsOptions {
  /** Bytes of linear memory reserved up front (rounded up to 64 KiB pages); it never grows. Default 64 MiB. */
  capacityBytes?: number;
  /** Memory to use instead of a new one, e.g. a shared one for threads; its size is the capacity. */
  memory?: WebAssembly.Memory;
  /** Splits large GEMMs across threads; requires `memory` to be the memory those threads use. */
  threads?: TaskThreads;
}

/** The kernels plus what tests and benchmarks want to see of the memory. */
export interface WasmKernels extends Kernels {
  readonly memory: WebAssembly.Memory;
  /** Bytes the allocator manages. */
  readonly capacityBytes: number;
  /** Bytes currently handed out by `alloc`/`allocInt8` (rounded to the alignment). */
  usedBytes(): number;
}

interface KernelExports {
  RELAXED_SIMD: WebAssembly.Global;
  DOT_MAX_ROWS: WebAssembly.Global;
  AXPY_MAX_ROWS: WebAssembly.Global;
  runTask(task: number): void;
  gemmScratchBytes(m: number, k: number): number;
  int8ScratchBytes(m: number, k: number): number;
  int8PairRowsScratchBytes(k: number, width: number): number;
  packPairRowsRange(n: number, k: number, q: number, out: number, j0: number, j1: number): void;
  crc32Tables(table: number): void;
  crc32Update(crc: number, at: number, length: number, table: number): number;
}

const PAGE = 65536;
const DEFAULT_CAPACITY = 64 * 1024 * 1024;
const MAX_CAPACITY = 2 ** 31;
/** Task blocks, one per thread, at [TASKS_AT, TASKS_AT + MAX_THREADS·TASK_BYTES): below the heap. */
const TASKS_AT = 256;
/** Threads a call splits across at most (the task blocks below the heap). */
const MAX_THREADS = 16;
/**
 * Per-call scratch up to this size comes from a fixed region above the task blocks, without the allocator
 * (one image's calls need a few KiB; their allocator round trips cost about as much as a small layer).
 */
const SCRATCH_BYTES = 64 * 1024;
/** The CRC-32 tables (8·256 u32, filled on the first `crc32`), above the task blocks. */
const CRC_TABLES_AT = TASKS_AT + MAX_THREADS * TASK_BYTES;
const CRC_TABLES_BYTES = 8 * 256 * 4;
const SCRATCH_AT = CRC_TABLES_AT + CRC_TABLES_BYTES;
/** The heap starts above the scratch region; address 0 stays unused, so no view starts at a null pointer. */
const BASE = SCRATCH_AT + SCRATCH_BYTES;
/** Unallocated bytes kept at the end: the int8 kernel reads up to 15 bytes past a weight row. */
const SLACK = 64;
/**
 * Heap blocks of earlier calls' scratch kept for later calls, at most this many: a training step's products each
 * take ~0.3-1 MB per thread, and an allocator round trip between two kernel calls (its data cold in cache) cost
 * ~5-10 µs, serial to the step. Given back to the heap when an allocation would not fit otherwise.
 */
const SPARE_BLOCKS = 4;
/** Below this many flops a GEMM runs on the calling thread: a hand-off costs about a microsecond. */
const PARALLEL_MIN_FLOPS = 2_000_000;
/**
 * From this many elements of b (or of int8 weights) a product is split across threads whatever its flops:
 * one image through a large layer is bound by reading the weights, and two cores read twice as fast.
 */
const PARALLEL_MIN_WEIGHTS = 256 * 1024;

/**
 * What happens as a GEMM's results are stored: r = alpha·(a·b) + old c + bias, then with a `slope` the
 * LeakyReLU of r, or with a `gate` too r·(gate > 0 ? 1 : slope) (the gradient through a LeakyReLU).
 */
interface Epilogue {
  alpha: number;
  /** One value per column of c, or null. */
  bias: Float32Array | null;
  /** LeakyReLU slope, or null for none. */
  slope: number | null;
  /** Laid out like c: the LeakyReLU outputs whose sign gates the gradient. */
  gate?: Float32Array;
}
const PLAIN: Epilogue = { alpha: 1, bias: null, slope: null };
const NO_OPTIONS: LinearTOptions = {};
const OPS = { [Layout.nn]: 'gemm', [Layout.tn]: 'gemmTN', [Layout.nt]: 'gemmNT' } as const;
type GemmLayout = (typeof Layout)[keyof typeof Layout];

/**
 * Instantiates the kernels module (a plain or relaxed SIMD build of `assembly/kernels.ts`) over its own memory.
 * @throws RangeError when the capacity is not between 1 MiB and 2 GiB.
 * @throws Error when `threads` is given without the `memory` they share.
 * @throws WebAssembly.LinkError when the module's memory import does not match (e.g. a shared build without a
 *   shared `memory`).
 */
export function createWasmKernels(module: WebAssembly.Module, options: WasmKernelsOptions = {}): WasmKernels {
  if (options.threads && options.threads.count > 1 && !options.memory) {
    throw new Error('wasm kernels: threads need the shared memory they were started with (options.memory)');
  }
  const ownMemory = options.memory === undefined;
  const memory =
    options.memory ?? new WebAssembly.Memory({ initial: pages(options.capacityBytes ?? DEFAULT_CAPACITY) });
  const buffer = memory.buffer;
  const capacityBytes = buffer.byteLength;
  if (capacityBytes > MAX_CAPACITY) throw new RangeError(`wasm kernels: capacity above 2 GiB`);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const ex = instance.exports as unknown as KernelExports;
  const heap = new FreeList(BASE, capacityBytes - SLACK);
  const threads = options.threads && options.threads.count > 1 ? options.threads : null;
  const relaxed = Number(ex.RELAXED_SIMD.value) === 1;
  const dotMaxRows = Number(ex.DOT_MAX_ROWS.value);
  const axpyMaxRows = Number(ex.AXPY_MAX_ROWS.value);
  const writer = new TaskWriter(new DataView(buffer));
  let crcTablesFilled = false;
  /** Scratch blocks kept from earlier calls (SPARE_BLOCKS), with their sizes as the heap rounded them. */
  const spares: { offset: number; size: number }[] = [];
  let spareBytes = 0;
  /** heap.alloc, after giving the spare scratch back when the request would not fit otherwise. */
  const heapAlloc = (bytes: number): number => {
    try {
      return heap.alloc(bytes);
    } catch (error) {
      if (spares.length === 0) throw error;
      for (const spare of spares) heap.release(spare.offset);
      spares.length = 0;
      spareBytes = 0;
      return heap.alloc(bytes);
    }
  };
  /** The task block of thread t (0: the caller). */
  const block = (t: number) => TASKS_AT + t * TASK_BYTES;
  /** Runs the task blocks 0..parts−1, block 0 on this thread. */
  const runBlocks = (parts: number) => {
    if (parts <= 1) ex.runTask(block(0));
    else
      threads!.run(
        Array.from({ length: parts }, (_, t) => block(t)),
        (task) => ex.runTask(task),
      );
  };

  /**
   * Temporary blocks of one call, freed when it ends: from the fixed scratch region while they fit (calls do
   * not nest, so each frame has the region to itself), else from the heap.
   */
  class Frame {
    private readonly blocks: { offset: number; size: number }[] = [];
    private next = SCRATCH_AT;
    /** A zeroed 32-bit word of scratch (the threads' shared column counter). */
    counter(): number {
      const at = this.scratch(4);
      new Int32Array(buffer, at, 1)[0] = 0;
      return at;
    }
    /** A scratch block of `bytes`, 64-byte aligned. */
    scratch(bytes: number): number {
      const size = Math.ceil(bytes / 64) * 64;
      if (this.next + size <= BASE) {
        const offset = this.next;
        this.next += size;
        return offset;
      }
      const heapSize = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
      for (let i = 0; i < spares.length; i++) {
        if (spares[i].size < heapSize) continue;
        const spare = spares[i];
        spares.splice(i, 1);
        spareBytes -= spare.size;
        this.blocks.push(spare);
        return spare.offset;
      }
      const offset = heapAlloc(bytes);
      this.blocks.push({ offset, size: heapSize });
      return offset;
    }
    /** The address of `array`'s first `length` elements, copied into scratch when it lives elsewhere. */
    input(array: Float32Array | Int8Array, length: number): number {
      if (array.buffer === buffer) return array.byteOffset;
      const offset = this.scratch(length * array.BYTES_PER_ELEMENT);
      const view =
        array instanceof Float32Array
          ? new Float32Array(buffer, offset, length)
          : new Int8Array(buffer, offset, length);
      view.set(array.subarray(0, length) as never);
      return offset;
    }
    /** Frees every block of the call, or keeps it as a spare for the next calls. */
    close(): void {
      for (const block of this.blocks) {
        if (spares.length < SPARE_BLOCKS) {
          spares.push(block);
          spareBytes += block.size;
        } else heap.release(block.offset);
      }
    }
  }

  /**
   * Rows of k int8 weights (a multiple of `multiple`) that fit the scratch region at once, when `q` lives outside
   * kernel memory and at least `multiple` rows fit; else 0. Weights read once at load (the pair layout, the row
   * sums) then come in through scratch a block at a time instead of a copy of all of them: a fresh isolate's
   * pages of kernel memory cost ~1 ms per 800 KB on their first touch.
   */
  function scratchRows(q: Int8Array, k: number, multiple: number): number {
    if (q.buffer === buffer || k === 0) return 0;
    return Math.floor(SCRATCH_BYTES / k / multiple) * multiple;
  }

  /**
   * `array` (just allocated) filled with zeros: only its part below `dirty` (the heap's high water before the
   * allocation) when this instance made the memory, since no block ever covered the rest and no kernel writes
   * outside its blocks, so it is still the zeros the memory was made with. Its pages then stay untouched until
   * used: a fresh isolate's predictor allocates activations for 64 rows and one image touches one of them.
   */
  function zeroed<T extends Float32Array | Int8Array>(array: T, dirty: number): T {
    const below = ownMemory ? Math.ceil((dirty - array.byteOffset) / array.BYTES_PER_ELEMENT) : array.length;
    if (below > 0) array.fill(0, 0, Math.min(below, array.length));
    return array;
  }

  /** Copies q[from, to) to the scratch region (calls do not nest, so it is free) and returns its address. */
  function toScratch(q: Int8Array, from: number, to: number): number {
    new Int8Array(buffer, SCRATCH_AT, to - from).set(q.subarray(from, to));
    return SCRATCH_AT;
  }

  /** Runs `fn` with an output address for `array`; a copy of it in scratch when it lives elsewhere. */
  function withOutput(
    frame: Frame,
    array: Float32Array,
    length: number,
    copyIn: boolean,
    fn: (ptr: number) => void,
  ): void {
    if (array.buffer === buffer) return fn(array.byteOffset);
    const ptr = copyIn ? frame.input(array, length) : frame.scratch(length * 4);
    fn(ptr);
    array.set(new Float32Array(buffer, ptr, length));
  }

  /** An output address for `array`: its own in kernel memory, else a scratch copy (`copyOut` brings it back). */
  function outputAt(frame: Frame, array: Float32Array, length: number, copyIn: boolean): number {
    if (array.buffer === buffer) return array.byteOffset;
    return copyIn ? frame.input(array, length) : frame.scratch(length * 4);
  }

  /** Copies the results at ptr into `array` when it lives outside kernel memory. */
  function copyOut(array: Float32Array, ptr: number, length: number): void {
    if (array.buffer !== buffer) array.set(new Float32Array(buffer, ptr, length));
  }

  // The hot paths below (one image is several calls) create no closures: each costs an allocation, and more
  // under tsx, whose keep-names wraps every closure made.
  function runGemm(
    layout: GemmLayout,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    accumulate: boolean,
    epilogue: Epilogue,
    op: string = OPS[layout],
    ldb = n,
    reluInput = false,
  ): void {
    checkShape(op, m, n, k);
    if (!Number.isInteger(ldb) || ldb < n) throw new RangeError(`${op}: row stride ${ldb} below n = ${n}`);
    const bLength = k > 0 ? (k - 1) * ldb + n : 0;
    checkLength(op, 'a', a, m * k);
    checkLength(op, 'b', b, bLength);
    checkLength(op, 'c', c, m * n);
    if (m === 0 || n === 0) return;
    const frame = new Frame();
    try {
      const rowByRow = layout === Layout.nn && m <= axpyMaxRows && k > 0;
      // Only the row-by-row path reads a through ReLU itself; the others get a copy with it applied.
      const pa = reluInput && !rowByRow ? reluCopy(frame, a, m * k) : frame.input(a, m * k);
      const pb = frame.input(b, bLength);
      const e = epilogueFields(frame, epilogue, m, n);
      const pc = outputAt(frame, c, m * n, accumulate);
      const acc = accumulate ? 1 : 0;
      // The few-row paths (one image being served) pack nothing: no scratch for dot products, the list of
      // nonzero inputs for the row-by-row NN path.
      const [stride, relu] = [ldb === n ? 0 : ldb, reluInput && rowByRow ? 1 : 0];
      const scratchBytes =
        layout === Layout.nt && m <= dotMaxRows ? 0 : rowByRow ? k * 4 : ex.gemmScratchBytes(m, k);
      const parts = partsFor(m, n, k);
      if (parts > 1 && rowByRow) {
        // A few rows through weights stored [in×out]: split by inputs, so each thread reads whole weight rows;
        // the helpers' partial products are summed into c (and the bias and activation applied) after the join.
        const bytes = Math.ceil((m * n * 4) / 64) * 64;
        const partials = frame.scratch(bytes * (parts - 1));
        for (let t = 0; t < parts; t++) {
          const out = t === 0 ? pc : partials + (t - 1) * bytes;
          writer.rowsPart(block(t), {
            m,
            n,
            k,
            a: pa,
            b: pb,
            c: out,
            accumulate: t === 0 ? acc : 0,
            part: t,
            parts,
            list: frame.scratch(k * 4),
            alpha: e.alpha,
            ldb: stride,
            reluInput: relu,
          });
        }
        runBlocks(parts);
        writer.reduceRows(block(0), { m, n, c: pc, partials, count: parts - 1, stride: bytes }, e);
        ex.runTask(block(0));
      } else {
        // The packed paths share the columns out through a counter (a thread that runs late leaves its shares
        // to the others); the few-row dot products split them in fixed ranges.
        const shared = parts > 1 && !(layout === Layout.nt && m <= dotMaxRows);
        const counter = shared ? frame.counter() : 0;
        const ranges = columnShares(shared, parts, n);
        for (let t = 0; t < parts; t++) {
          const [j0, j1] = ranges[t];
          const scratch = scratchBytes ? frame.scratch(scratchBytes) : 0;
          const f = {
            layout,
            m,
            n,
            k,
            a: pa,
            b: pb,
            c: pc,
            accumulate: acc,
            j0,
            j1,
            scratch,
            counter,
            ldb: stride,
            reluInput: relu,
          };
          writer.gemm(block(t), f, e);
        }
        runBlocks(parts);
      }
      copyOut(c, pc, m * n);
    } finally {
      frame.close();
    }
  }

  /** linearInt8 (layout 0: q [n×k]) or linearInt8T (layout 1: q in input pairs, `qLength` elements). */
  function runInt8(
    op: string,
    layout: 0 | 1,
    m: number,
    n: number,
    k: number,
    x: Float32Array,
    q: Int8Array,
    qLength: number,
    scale: Float32Array,
    bias: Float32Array,
    y: Float32Array,
    rowSums: Float32Array | undefined,
    slope: number | undefined,
  ): void {
    checkShape(op, m, n, k);
    checkLength(op, 'x', x, m * k);
    checkLength(op, 'q', q, qLength);
    checkLength(op, 'scale', scale, n);
    checkLength(op, 'bias', bias, n);
    checkLength(op, 'y', y, m * n);
    if (rowSums) checkLength(op, 'rowSums', rowSums, n);
    if (m === 0 || n === 0) return;
    const frame = new Frame();
    try {
      const px = frame.input(x, m * k);
      const pq = frame.input(q, qLength);
      const ps = frame.input(scale, n);
      const pbias = frame.input(bias, n);
      // Only the relaxed build reads the row sums (for its activations' zero points).
      const psums = rowSums && relaxed ? frame.input(rowSums, n) : 0;
      const py = outputAt(frame, y, m * n, false);
      const parts = partsFor(m, n, k);
      // The relaxed builds share the work out through a counter, as the packed GEMMs do: columns of the row
      // layout, rows of the pair layout (each thread then needs scratch for all n outputs). A few rows in the
      // pair layout (one image) keep the fixed column split, so that both threads work on them.
      const shared = parts > 1 && relaxed && (layout === 0 || m >= 8);
      const counter = shared ? frame.counter() : 0;
      const ranges = columnShares(shared, parts, n);
      for (let t = 0; t < parts; t++) {
        const [j0, j1] = ranges[t];
        const scratchBytes =
          layout === 1 ? ex.int8PairRowsScratchBytes(k, j1 - j0) : ex.int8ScratchBytes(m, k);
        writer.linearInt8(block(t), {
          m,
          n,
          k,
          x: px,
          q: pq,
          scale: ps,
          bias: pbias,
          rowSums: psums,
          y: py,
          scratch: frame.scratch(scratchBytes),
          j0,
          j1,
          leaky: slope === undefined ? 0 : 1,
          slope: slope ?? 0,
          layout,
          counter,
        });
      }
      runBlocks(parts);
      copyOut(y, py, m * n);
    } finally {
      frame.close();
    }
  }

  /** a's first `length` values through ReLU (≤ 0 to 0, NaN kept) in scratch, for the paths that read a as is. */
  function reluCopy(frame: Frame, a: Float32Array, length: number): number {
    const at = frame.scratch(length * 4);
    const out = new Float32Array(buffer, at, length);
    for (let i = 0; i < length; i++) out[i] = a[i] <= 0 ? 0 : a[i];
    return at;
  }

  /** How many threads a product of m×n×k should use. */
  function partsFor(m: number, n: number, k: number): number {
    if (!threads) return 1;
    if (2 * m * n * k < PARALLEL_MIN_FLOPS && n * k < PARALLEL_MIN_WEIGHTS) return 1;
    return Math.min(threads.count, MAX_THREADS, n >> 3);
  }

  /** The epilogue's fields, its arrays copied into the frame when they live elsewhere. */
  function epilogueFields(frame: Frame, e: Epilogue, m: number, n: number): EpilogueFields {
    return {
      alpha: e.alpha,
      bias: e.bias ? frame.input(e.bias, n) : 0,
      activation: e.slope === null ? Activation.none : e.gate ? Activation.gate : Activation.leaky,
      slope: e.slope ?? 0,
      gate: e.gate ? frame.input(e.gate, m * n) : 0,
    };
  }

  function view<T extends Float32Array | Int8Array>(array: T, op: string): T {
    if (array.buffer !== buffer) throw new TypeError(`wasm kernels: ${op} of an array not from alloc`);
    return array;
  }

  return {
    name: `wasm-simd${relaxed ? '-relaxed' : ''}${threads ? `-x${threads.count}` : ''}`,
    memory,
    capacityBytes,
    usedBytes: () => heap.usedBytes() - spareBytes,

    alloc(length) {
      checkAllocLength(length);
      const dirty = heap.highWater();
      const offset = heapAlloc(length * 4);
      return zeroed(new Float32Array(buffer, offset, length), dirty);
    },
    allocInt8(length) {
      checkAllocLength(length);
      const dirty = heap.highWater();
      const offset = heapAlloc(length);
      return zeroed(new Int8Array(buffer, offset, length), dirty);
    },
    free(array) {
      heap.release(view(array, 'free').byteOffset);
    },

    gemm: (m, n, k, a, b, c, accumulate = false, alpha = 1) =>
      runGemm(Layout.nn, m, n, k, a, b, c, accumulate, alpha === 1 ? PLAIN : { ...PLAIN, alpha }),
    gemmTN: (m, n, k, a, b, c, accumulate = false, alpha = 1) =>
      runGemm(Layout.tn, m, n, k, a, b, c, accumulate, alpha === 1 ? PLAIN : { ...PLAIN, alpha }),
    gemmNT: (m, n, k, a, b, c, accumulate = false, alpha = 1) =>
      runGemm(Layout.nt, m, n, k, a, b, c, accumulate, alpha === 1 ? PLAIN : { ...PLAIN, alpha }),

    linear(m, n, k, x, w, bias, y, slope) {
      checkLength('linear', 'bias', bias, n);
      runGemm(Layout.nt, m, n, k, x, w, y, false, { alpha: 1, bias, slope: slope ?? null }, 'linear');
    },
    linearT(m, n, k, x, wt, bias, y, slope, options) {
      checkLength('linearT', 'bias', bias, n);
      const { accumulate = false, alpha = 1, wtStride = n, reluInput = false } = options ?? NO_OPTIONS;
      const e = { alpha, bias, slope: slope ?? null };
      runGemm(Layout.nn, m, n, k, x, wt, y, accumulate, e, 'linearT', wtStride, reluInput);
    },
    linearGradInput(m, n, k, dy, w, act, dx, slope) {
      checkLength('linearGradInput', 'act', act, m * n);
      runGemm(
        Layout.nn,
        m,
        n,
        k,
        dy,
        w,
        dx,
        false,
        { alpha: 1, bias: null, slope, gate: act },
        'linearGradInput',
      );
    },

    linearInt8(m, n, k, x, q, scale, bias, y, rowSums, slope) {
      runInt8('linearInt8', 0, m, n, k, x, q, n * k, scale, bias, y, rowSums, slope);
    },
    // The pair layout's kernel uses the relaxed i8×i7 dot; the plain build has no fast path for it.
    linearInt8T: relaxed
      ? (m, n, k, x, qt, scale, bias, y, rowSums, slope) => {
          if (!rowSums) throw new TypeError('linearInt8T: rowSums is required');
          runInt8('linearInt8T', 1, m, n, k, x, qt, int8PairRowsLength(n, k), scale, bias, y, rowSums, slope);
        }
      : undefined,
    packInt8T: relaxed
      ? (n, k, q) => {
          checkShape('packInt8T', 1, n, k);
          checkLength('packInt8T', 'q', q, n * k);
          const out = new Int8Array(buffer, heapAlloc(int8PairRowsLength(n, k)), int8PairRowsLength(n, k));
          const rows = scratchRows(q, k, 8);
          if (rows) {
            for (let j0 = 0; j0 < n; j0 += rows) {
              const j1 = Math.min(n, j0 + rows);
              ex.packPairRowsRange(n, k, toScratch(q, j0 * k, j1 * k), out.byteOffset, j0, j1);
            }
            return out;
          }
          const frame = new Frame();
          try {
            writer.pairRows(block(0), { n, k, q: frame.input(q, n * k), out: out.byteOffset });
            ex.runTask(block(0));
          } finally {
            frame.close();
          }
          return out;
        }
      : undefined,

    rowSumsInt8(n, k, q) {
      checkShape('rowSumsInt8', 1, n, k);
      checkLength('rowSumsInt8', 'q', q, n * k);
      const out = new Float32Array(buffer, heapAlloc(n * 4), n);
      const rows = scratchRows(q, k, 1);
      if (rows) {
        for (let j0 = 0; j0 < n; j0 += rows) {
          const j1 = Math.min(n, j0 + rows);
          const at = toScratch(q, j0 * k, j1 * k);
          writer.rowSums(block(0), { n: j1 - j0, k, q: at, out: out.byteOffset + j0 * 4 });
          ex.runTask(block(0));
        }
        return out;
      }
      const frame = new Frame();
      try {
        writer.rowSums(block(0), { n, k, q: frame.input(q, n * k), out: out.byteOffset });
        ex.runTask(block(0));
      } finally {
        frame.close();
      }
      return out;
    },

    crc32(bytes) {
      if (!crcTablesFilled) ex.crc32Tables(CRC_TABLES_AT);
      crcTablesFilled = true;
      // Through the scratch region a chunk at a time (its pages are the ones every call uses), unless in memory.
      let crc = 0xffffffff;
      for (let at = 0; at < bytes.length; at += SCRATCH_BYTES) {
        const chunk = bytes.subarray(at, at + SCRATCH_BYTES);
        let ptr = chunk.byteOffset;
        if (chunk.buffer !== buffer) {
          new Uint8Array(buffer, SCRATCH_AT, chunk.length).set(chunk);
          ptr = SCRATCH_AT;
        }
        crc = ex.crc32Update(crc, ptr, chunk.length, CRC_TABLES_AT);
      }
      return (crc ^ 0xffffffff) >>> 0;
    },

    sgdUpdate(w, g, velocity, o: UpdateOptions) {
      const n = w.length;
      checkLength('sgdUpdate', 'g', g, n);
      const useMomentum = o.momentum !== 0;
      if (useMomentum && !velocity) throw new Error('sgdUpdate: momentum needs a velocity buffer');
      if (velocity && useMomentum) checkLength('sgdUpdate', 'velocity', velocity, n);
      if (n === 0) return;
      const frame = new Frame();
      try {
        const pg = frame.input(g, n);
        withOutput(frame, w, n, true, (pw) => {
          const run = (pv: number) => {
            // Large views are split across threads: the step is bound by memory traffic, two cores move more.
            const parts = threads && n >= PARALLEL_MIN_WEIGHTS ? Math.min(threads.count, MAX_THREADS) : 1;
            const [lr, momentum, l1, l2x2] = [o.lr, o.momentum, o.l1, 2 * o.l2];
            columnRanges(n, parts).forEach(([i0, i1], t) => {
              const useMomentum = pv ? 1 : 0;
              writer.sgd(block(t), { w: pw, g: pg, v: pv, i0, i1, lr, momentum, l1, l2x2, useMomentum });
            });
            runBlocks(parts);
          };
          if (useMomentum) withOutput(frame, velocity!, n, true, run);
          else run(0);
        });
      } finally {
        frame.close();
      }
    },

    adamUpdate(w, g, m, v, o: AdamOptions) {
      const n = w.length;
      checkLength('adamUpdate', 'g', g, n);
      checkLength('adamUpdate', 'm', m, n);
      checkLength('adamUpdate', 'v', v, n);
      if (n === 0) return;
      const c1 = 1 - Math.pow(o.beta1, o.t);
      const c2 = 1 - Math.pow(o.beta2, o.t);
      const frame = new Frame();
      try {
        const pg = frame.input(g, n);
        withOutput(frame, w, n, true, (pw) =>
          withOutput(frame, m, n, true, (pm) =>
            withOutput(frame, v, n, true, (pv) => {
              const { beta1, beta2, eps, l1 } = o;
              writer.adam(block(0), {
                w: pw,
                g: pg,
                m: pm,
                v: pv,
                n,
                stepSize: o.lr / c1,
                beta1,
                beta2,
                eps,
                c2,
                l1,
                l2x2: 2 * o.l2,
              });
              ex.runTask(block(0));
            }),
          ),
        );
      } finally {
        frame.close();
      }
    },
  };
}

/**
 * How `parts` threads cover [0, n): `shared`, each thread is handed all of [0, n) and takes column shares from
 * one counter; else fixed `columnRanges`.
 */
function columnShares(shared: boolean, parts: number, n: number): [number, number][] {
  if (!shared) return columnRanges(n, parts);
  const ranges: [number, number][] = [];
  for (let t = 0; t < parts; t++) ranges.push([0, n]);
  return ranges;
}

/** [0, n) split into `parts` ranges of whole 8-column panels, as even as possible. */
function columnRanges(n: number, parts: number): [number, number][] {
  if (parts === 1) return [[0, n]];
  const panels = Math.ceil(n / 8);
  return Array.from({ length: parts }, (_, t): [number, number] => [
    Math.floor((panels * t) / parts) * 8,
    Math.min(n, Math.floor((panels * (t + 1)) / parts) * 8),
  ]);
}

function pages(bytes: number): number {
  if (!(bytes >= 1 << 20 && bytes <= MAX_CAPACITY)) {
    throw new RangeError(`wasm kernels: capacityBytes must be between 1 MiB and 2 GiB, got ${bytes}`);
  }
  return Math.ceil(bytes / PAGE);
}

function checkAllocLength(length: number): void {
  if (!Number.isInteger(length) || length < 0) {
    throw new RangeError(`wasm kernels: alloc length must be a non-negative integer, got ${length}`);
  }
}

function checkShape(op: string, m: number, n: number, k: number): void {
  checkDim(op, 'm', m);
  checkDim(op, 'n', n);
  checkDim(op, 'k', k);
}

function checkDim(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0)
    throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${v}`);
}

function checkLength(op: string, name: string, array: Float32Array | Int8Array, needed: number): void {
  if (array.length < needed) {
    throw new RangeError(`${op}: ${name} has ${array.length} elements, needs at least ${needed}`);
  }
}
