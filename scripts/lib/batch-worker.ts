/**
 * @module
 * The thread side of batch prefetching (`batch-prefetch.ts` is the training side): runs the same `BatchSource`
 * as the serial path, epoch after epoch, and publishes each batch into a ring of shared slots as soon as one is
 * free, so augmentation and preprocessing overlap the network's steps. Nothing here decides what a batch holds.
 */
import type { MessagePort } from 'node:worker_threads';
import { BatchSource, type BatchOptions } from './batches.ts';

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

export interface BatchWorkerData {
  images: Float32Array;
  labels: Uint8Array;
  rows: number;
  cols: number;
  batch: number;
  /** Passed through whole, so new options reach the thread's `BatchSource` without changes here. */
  options: BatchOptions;
  control: Int32Array;
  meta: Float64Array;
  /** [DEPTH×batch×rows·cols] and [DEPTH×batch]. */
  slotImages: Float32Array;
  slotLabels: Uint8Array;
  port: MessagePort;
}

/**
 * Fills slot after slot until told to quit. The first message on `port` is the source's `describe()`; a failure
 * is reported by the thread's bootstrap (the message, then `STATE = FAILED`).
 */
export function runBatchWorker(d: BatchWorkerData): void {
  const { control, meta, batch, rows, cols } = d;
  const size = rows * cols;
  const x = new Float32Array(batch * size);
  const source = new BatchSource(d.images, d.labels, rows, cols, batch, x, d.options);
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
      const before = source.fillSeconds;
      const n = source.fill(start);
      const slot = k % DEPTH;
      d.slotImages.set(x.subarray(0, n * size), slot * batch * size);
      d.slotLabels.set(source.labels.subarray(0, n), slot * batch);
      meta.set([start, n, source.fillSeconds - before], slot * META_CELLS);
      Atomics.store(control, WRITTEN, k + 1);
      Atomics.notify(control, WRITTEN);
    }
  }
}
