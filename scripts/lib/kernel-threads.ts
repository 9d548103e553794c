/**
 * @module
 * Helper threads for the WebAssembly kernels: `worker_threads` that instantiate the shared-memory build over the
 * same `WebAssembly.Memory` and run the task blocks whose addresses are handed over through `Atomics` (no
 * messages per call).
 * Node only; the kernels themselves stay in `src/kernels`.
 */
import { Worker } from 'node:worker_threads';
import type { TaskThreads } from '../../src/kernels/wasm-kernels.ts';

/** Int32 slots per helper thread: one cache line, so threads do not false-share. */
const SLOT = 16;
const SEQ = 0; // task number written by the caller; -1 asks the thread to quit
const DONE = 1; // last task number the thread finished
const FAILED = 2; // 1 once a task threw
const TASK = 4; // the address of the task block to run
/** Polls before sleeping: back-to-back GEMMs of a training step then skip the futex wake-up. */
const SPIN = 20_000;

// Plain CommonJS, evaluated in the thread: avoids depending on a TypeScript loader inside workers.
const THREAD_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { module, memory, control, slot } = workerData;
const runTask = new WebAssembly.Instance(module, { env: { memory } }).exports.runTask;
const ctrl = new Int32Array(control);
const base = slot * ${SLOT};
parentPort.postMessage('ready');
let seen = 0;
for (;;) {
  let seq = Atomics.load(ctrl, base + ${SEQ});
  for (let i = 0; seq === seen && i < ${SPIN}; i++) seq = Atomics.load(ctrl, base + ${SEQ});
  if (seq === seen) {
    Atomics.wait(ctrl, base + ${SEQ}, seen);
    continue;
  }
  if (seq < 0) break;
  seen = seq;
  try {
    runTask(ctrl[base + ${TASK}]);
  } catch (error) {
    Atomics.store(ctrl, base + ${FAILED}, 1);
    parentPort.postMessage(String(error && error.stack || error));
  }
  Atomics.store(ctrl, base + ${DONE}, seq);
  Atomics.notify(ctrl, base + ${DONE});
}
`;

export interface KernelThreads extends TaskThreads {
  /** Stops the helper threads; the kernels then must not split a call across threads any more. */
  dispose(): Promise<void>;
}

/**
 * Starts `count − 1` helper threads over `memory` (which must be shared) and waits until each is ready.
 * @throws Error when a thread fails to start or to instantiate `module`.
 */
export async function startKernelThreads(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  count: number,
): Promise<KernelThreads> {
  const helpers = Math.max(0, Math.floor(count) - 1);
  const control = new SharedArrayBuffer(Math.max(1, helpers) * SLOT * 4);
  const ctrl = new Int32Array(control);
  const workers: Worker[] = [];
  let seq = 0;
  try {
    await Promise.all(
      Array.from({ length: helpers }, (_, slot) => {
        const worker = new Worker(THREAD_SOURCE, {
          eval: true,
          workerData: { module, memory, control, slot },
        });
        workers.push(worker);
        return new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`kernel thread ${slot} exited with code ${code}`)));
        });
      }),
    );
  } catch (error) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw error;
  }
  for (const worker of workers) {
    worker.removeAllListeners();
    // Failures are also flagged in shared memory; the message only carries the stack for the log.
    worker.on('message', (text) => console.error(`kernel thread: ${text}`));
    worker.unref();
  }

  return {
    count: helpers + 1,
    run(tasks: readonly number[], runLocal: (task: number) => void): void {
      if (tasks.length - 1 > helpers)
        throw new Error(`kernel threads: ${tasks.length} tasks for ${helpers + 1} threads`);
      seq++;
      for (let t = 1; t < tasks.length; t++) {
        const base = (t - 1) * SLOT;
        ctrl[base + TASK] = tasks[t];
        Atomics.store(ctrl, base + SEQ, seq);
        Atomics.notify(ctrl, base + SEQ);
      }
      let localError: unknown = null;
      try {
        runLocal(tasks[0]);
      } catch (error) {
        localError = error;
      }
      let failed = 0;
      for (let t = 1; t < tasks.length; t++) {
        const base = (t - 1) * SLOT;
        let done = Atomics.load(ctrl, base + DONE);
        for (let i = 0; done !== seq && i < SPIN; i++) done = Atomics.load(ctrl, base + DONE);
        while (done !== seq) {
          Atomics.wait(ctrl, base + DONE, done);
          done = Atomics.load(ctrl, base + DONE);
        }
        if (Atomics.exchange(ctrl, base + FAILED, 0) !== 0) failed++;
      }
      if (localError) throw localError;
      if (failed) throw new Error(`kernel threads: ${failed} helper thread(s) failed`);
    },
    async dispose(): Promise<void> {
      for (let t = 0; t < helpers; t++) {
        Atomics.store(ctrl, t * SLOT + SEQ, -1);
        Atomics.notify(ctrl, t * SLOT + SEQ);
      }
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
