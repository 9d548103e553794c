/**
 * @module
 * Batch prefetching for `npm run train`: `PrefetchedBatches` hands the training loop the very batches a serial
 * `BatchSource` (and outlier exposure's mixer) would give (same seeds, order and pixels) but prepared ahead by one
 * thread (`batch-worker.ts`), so augmentation and preprocessing run while the network trains. Node only
 * (`worker_threads`); no file system.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { BatchOptions, BatchStream } from './batches.ts';
import {
  type ThreadOutlierExposure,
  CONTROL_CELLS,
  DEPTH,
  FAILED,
  META_CELLS,
  QUIT,
  READ,
  READY,
  STATE,
  WRITTEN,
  type BatchWorkerData,
} from './batch-worker.ts';

/** With no batch for this long the thread is taken for dead (a batch takes milliseconds). */
const STALL_MS = 120_000;

// Plain CommonJS evaluated in the thread: loads the TypeScript side through tsx's API, so it runs the same way
// under `tsx` and under vitest; anything that throws there, loading included, is posted, then flagged.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const { tsx, entry, data } = workerData;
const fail = (error) => {
  try {
    data.port.postMessage({ error: String((error && error.stack) || error) });
  } finally {
    Atomics.store(data.control, ${STATE}, ${FAILED});
    Atomics.notify(data.control, ${STATE});
    Atomics.notify(data.control, ${WRITTEN});
  }
};
import(tsx)
  .then(({ tsImport }) => tsImport(entry, entry))
  .then((m) => m.runBatchWorker(data))
  .catch(fail);
`;

/** `values` in shared memory: itself when it already is, else a copy. */
function shared<T extends Float32Array | Uint8Array>(values: T, make: (buffer: SharedArrayBuffer) => T): T {
  if (values.buffer instanceof SharedArrayBuffer) return values;
  const copy = make(new SharedArrayBuffer(values.byteLength));
  copy.set(values);
  return copy;
}

/**
 * The training set's batches, prepared by a worker thread running `BatchSource` ahead of the network, and
 * outlier exposure's mixer when given one: then each batch's `n` digits are followed by the mixer's `extraRows`
 * non-digits in `x` and `labels` (`x` must have room for them), exactly as `OutlierExposure.mix` returns them.
 * Epochs must be run to their end: the thread has already drawn the next batches' randomness, so an epoch
 * stopped early cannot be followed by another (`shuffle` throws).
 */
export class PrefetchedBatches implements BatchStream {
  readonly labels: Uint8Array;
  readonly count: number;
  /** Non-digits after the digits of each batch (outlier exposure). */
  readonly extraRows: number;
  /** Seconds the training loop waited for batches (and copied them) since construction. */
  fillSeconds = 0;
  /** Seconds the thread spent preparing the batches taken so far. */
  workerSeconds = 0;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly control: Int32Array;
  private readonly meta: Float64Array;
  private readonly slotImages: Float32Array;
  private readonly slotLabels: Uint8Array;
  private readonly stepsPerEpoch: number;
  private description: string | null = null;
  private failure: string | null = null;
  private taken = 0;

  constructor(
    images: Float32Array,
    labels: Uint8Array,
    readonly rows: number,
    readonly cols: number,
    readonly batch: number,
    readonly x: Float32Array,
    readonly options: BatchOptions,
    outlierExposure: ThreadOutlierExposure | null = null,
    /** Where the thread's log lines go (outlier exposure's). */
    private readonly log: (line: string) => void = () => {},
  ) {
    const size = rows * cols;
    this.count = labels.length;
    this.extraRows = outlierExposure?.rows ?? 0;
    const slotRows = batch + this.extraRows;
    this.labels = new Uint8Array(slotRows);
    this.stepsPerEpoch = Math.ceil(this.count / batch);
    const cells = (n: number, bytes: number) => new SharedArrayBuffer(n * bytes);
    this.control = new Int32Array(cells(CONTROL_CELLS, 4));
    this.meta = new Float64Array(cells(DEPTH * META_CELLS, 8));
    this.slotImages = new Float32Array(cells(DEPTH * slotRows * size, 4));
    this.slotLabels = new Uint8Array(cells(DEPTH * slotRows, 1));
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: BatchWorkerData = {
      images: shared(images, (b) => new Float32Array(b)),
      labels: shared(labels, (b) => new Uint8Array(b)),
      rows,
      cols,
      batch,
      options,
      outlierExposure,
      control: this.control,
      meta: this.meta,
      slotImages: this.slotImages,
      slotLabels: this.slotLabels,
      port: port2,
    };
    this.worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: {
        tsx: import.meta.resolve('tsx/esm/api'),
        entry: new URL('./batch-worker.ts', import.meta.url).href,
        data,
      },
      transferList: [port2],
    });
    // Failures come through shared memory (the loop is synchronous); these only catch what the bootstrap cannot.
    this.worker.on('error', (error) => (this.failure ??= String(error.stack ?? error)));
    this.worker.on('exit', (code) => (this.failure ??= `the thread exited with code ${code}`));
    this.worker.unref();
  }

  /** Starts an epoch (the thread shuffles on its own, in step). */
  shuffle(): void {
    if (this.taken % this.stepsPerEpoch !== 0) {
      throw new Error(
        'batch worker: an epoch was stopped early; its batches cannot be followed by a new epoch',
      );
    }
  }

  /**
   * Fills `x` and `labels` with the batch starting at `start`, the next one in order, and its `extraRows`
   * non-digits; returns its count of digits.
   */
  fill(start: number): number {
    const t0 = performance.now();
    const k = this.taken;
    this.waitFor(WRITTEN, () => Atomics.load(this.control, WRITTEN) > k, `batch ${k}`);
    const slot = k % DEPTH;
    const [slotStart, n, seconds] = this.meta.subarray(slot * META_CELLS, (slot + 1) * META_CELLS);
    if (slotStart !== start) {
      throw new Error(`batch worker: out of step, batch ${k} starts at ${slotStart}, not ${start}`);
    }
    const size = this.rows * this.cols;
    const from = slot * (this.batch + this.extraRows);
    const to = from + n + this.extraRows;
    this.x.set(this.slotImages.subarray(from * size, to * size));
    this.labels.set(this.slotLabels.subarray(from, to));
    this.taken = k + 1;
    Atomics.store(this.control, READ, this.taken);
    Atomics.notify(this.control, READ);
    this.workerSeconds += seconds;
    this.fillSeconds += (performance.now() - t0) / 1000;
    return n;
  }

  /** The thread's `BatchSource.describe()` (waits for the thread to start). */
  describe(): string {
    this.waitFor(STATE, () => Atomics.load(this.control, STATE) === READY, 'start');
    this.drain();
    return this.description ?? '';
  }

  /** Stops the thread (no wait: it may be sleeping on the ring). */
  dispose(): void {
    if (Atomics.load(this.control, STATE) !== FAILED) Atomics.store(this.control, STATE, QUIT);
    Atomics.notify(this.control, READ);
    void this.worker.terminate();
    this.port.close();
  }

  /**
   * Blocks until `done()`, waking when control cell `cell` changes.
   * @throws Error with the thread's message when it failed, or when it stalls for `STALL_MS`.
   */
  private waitFor(cell: number, done: () => boolean, what: string): void {
    const deadline = performance.now() + STALL_MS;
    for (;;) {
      const seen = Atomics.load(this.control, cell);
      if (done()) return;
      if (Atomics.load(this.control, STATE) === FAILED || this.failure !== null) {
        this.drain();
        throw new Error(`batch worker: ${this.failure ?? 'failed without a message'}`);
      }
      if (Atomics.load(this.control, STATE) === QUIT) throw new Error('batch worker: already disposed');
      if (performance.now() > deadline) {
        throw new Error(`batch worker: no ${what} after ${STALL_MS / 1000} s`);
      }
      Atomics.wait(this.control, cell, seen, 100);
    }
  }

  /** Reads the thread's messages: log lines, its description, then at most one error. */
  private drain(): void {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const message = m.message as { log?: string; description?: string; error?: string };
      if (message.log !== undefined) this.log(message.log);
      if (message.description !== undefined) this.description = message.description;
      if (message.error !== undefined) this.failure ??= message.error;
    }
  }
}
