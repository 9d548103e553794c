/**
 * @module
 * The thread side of batch prefetching (`batch-prefetch.ts` is the training side): runs the same `BatchSource`
 * as the serial path, and outlier exposure's mixer when asked, epoch after epoch, and publishes each batch into a
 * ring of shared slots as soon as one is free, so augmentation, preprocessing and the non-digits overlap the
 * network's steps. Nothing here decides what a batch holds.
 */
import type { MessagePort } from 'node:worker_threads';
import { BatchSource, type BatchOptions } from './batches.ts';
import type { TrainOptions } from './train-options.ts';
import { startOutlierExposure } from './unsure-training.ts';

/** Slots in the ring: the thread runs at most this many batches ahead of the network. */
export const DEPTH = 2;

/** Int32 cells of the control block. */
export const WRITTEN = 0; // batches published so far
export const READ = 1; // batches the network has taken so far
export const STATE = 2; // one of the states below
export const CONTROL_CELLS = 4;

export const STARTING = 0;
export const READY = 1;
export const FAILED = 2;
export const QUIT = 3;

/** Float64 cells per slot: where the batch starts in its epoch, its rows, the seconds it took. */
export const META_CELLS = 3;

/** Outlier exposure to run in the thread: `startOutlierExposure`'s own arguments, plain data. */
export interface ThreadOutlierExposure {
  options: TrainOptions;
  datasetName: string;
  /** Its non-digits per batch, which the slots leave room for. */
  rows: number;
}

/** The mixer's batch lives in the thread's own memory; the slots are what is shared. */
const HEAP = { alloc: (n: number) => new Float32Array(n), free: () => {} };

export interface BatchWorkerData {
  images: Float32Array;
  labels: Uint8Array;
  rows: number;
  cols: number;
  batch: number;
  /** Passed through whole, so new options reach the thread's `BatchSource` without changes here. */
  options: BatchOptions;
  outlierExposure: ThreadOutlierExposure | null;
  control: Int32Array;
  meta: Float64Array;
  /** [DEPTH×(batch + outlier rows)×rows·cols] and [DEPTH×(batch + outlier rows)]. */
  slotImages: Float32Array;
  slotLabels: Uint8Array;
  port: MessagePort;
}

/**
 * Fills slot after slot until told to quit: a batch of digits, then the mixer's non-digits after them. The
 * messages on `port` are the mixer's log lines, then the source's `describe()`; a failure is reported by the
 * thread's bootstrap (the message, then `STATE = FAILED`).
 */
export function runBatchWorker(d: BatchWorkerData): void {
  const { control, meta, batch, rows, cols } = d;
  const size = rows * cols;
  const x = new Float32Array(batch * size);
  const source = new BatchSource(d.images, d.labels, rows, cols, batch, x, d.options);
  const oe = d.outlierExposure;
  const mixer = oe
    ? startOutlierExposure(oe.options, oe.datasetName, HEAP, (line) => d.port.postMessage({ log: line }))
    : null;
  const extra = mixer?.rows ?? 0;
  if (extra !== (oe?.rows ?? 0)) throw new Error(`outlier exposure: ${extra} rows, not ${oe?.rows}`);
  const slotRows = batch + extra;
  d.port.postMessage({ description: source.describe() });
  Atomics.compareExchange(control, STATE, STARTING, READY); // not if already told to quit
  Atomics.notify(control, STATE);
  for (let k = 0; ;) {
    source.shuffle();
    for (let start = 0; start < source.count; start += batch, k++) {
      for (;;) {
        if (Atomics.load(control, STATE) === QUIT) return;
        const read = Atomics.load(control, READ);
        if (k - read < DEPTH) break;
        Atomics.wait(control, READ, read);
      }
      const t0 = performance.now();
      const n = source.fill(start);
      const mixed = mixer ? mixer.mix(x, source.labels, n) : x;
      const labels = mixer ? mixer.labels : source.labels;
      const slot = k % DEPTH;
      d.slotImages.set(mixed.subarray(0, (n + extra) * size), slot * slotRows * size);
      d.slotLabels.set(labels.subarray(0, n + extra), slot * slotRows);
      meta.set([start, n, (performance.now() - t0) / 1000], slot * META_CELLS);
      Atomics.store(control, WRITTEN, k + 1);
      Atomics.notify(control, WRITTEN);
    }
  }
}
