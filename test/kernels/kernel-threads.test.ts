import { afterAll, describe, expect, it } from 'vitest';
import { gemmRef } from '../../src/kernels/ts-kernels.ts';
import { Activation, Layout, TaskWriter, type GemmFields } from '../../src/kernels/task-layout.ts';
import { compileBuild } from '../../scripts/lib/kernels-node.ts';
import { startKernelThreads, type KernelThreads } from '../../scripts/lib/kernel-threads.ts';
import { randomArray, seeded } from './kernel-checks.ts';

const PAGES = 64; // 4 MiB
const PLAIN = { alpha: 1, bias: 0, activation: Activation.none, slope: 0, gate: 0 };
const [BLOCK0, BLOCK1] = [256, 384];

describe('startKernelThreads', () => {
  const module = compileBuild('shared');
  const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES, shared: true });
  const runTask = (
    new WebAssembly.Instance(module, { env: { memory } }).exports as { runTask: (task: number) => void }
  ).runTask;
  const writer = new TaskWriter(new DataView(memory.buffer));
  const gemm = (at: number, f: Omit<GemmFields, 'layout' | 'accumulate' | 'counter' | 'ldb' | 'reluInput'>) =>
    writer.gemm(at, { layout: Layout.nn, accumulate: 0, counter: 0, ldb: 0, reluInput: 0, ...f }, PLAIN);
  let threads: KernelThreads | null = null;
  afterAll(async () => {
    await threads?.dispose();
  });

  it('should run the second task block on the helper thread over the same memory', async () => {
    threads = await startKernelThreads(module, memory, 2);
    expect(threads.count).toBe(2);
    const [m, n, k] = [9, 24, 11];
    const [pa, pb, pc, s0, s1] = [1024, 8192, 16384, 65536, 131072];
    const a = randomArray(m * k, seeded(1), new Float32Array(memory.buffer, pa, m * k));
    const b = randomArray(k * n, seeded(2), new Float32Array(memory.buffer, pb, k * n));
    const c = new Float32Array(memory.buffer, pc, m * n);
    gemm(BLOCK0, { m, n, k, a: pa, b: pb, c: pc, j0: 0, j1: 8, scratch: s0 });
    gemm(BLOCK1, { m, n, k, a: pa, b: pb, c: pc, j0: 8, j1: n, scratch: s1 });
    const ran: number[] = [];
    threads.run([BLOCK0, BLOCK1], (task) => {
      ran.push(task);
      runTask(task);
    });
    expect(ran).toEqual([BLOCK0]); // the caller only ran its own block; columns 8.. came from the helper
    const expected = new Float32Array(m * n);
    gemmRef(m, n, k, a, b, expected);
    for (let i = 0; i < m * n; i++) expect(c[i]).toBeCloseTo(expected[i], 5);
  });

  it('should report a helper that trapped, and keep working afterwards', async () => {
    threads ??= await startKernelThreads(module, memory, 2);
    const outOfBounds = PAGES * 65536 + 4096;
    const empty = { m: 4, n: 8, k: 4, a: 0, b: 0, c: 1024, j0: 0, j1: 0, scratch: 2048 };
    gemm(BLOCK0, empty);
    gemm(BLOCK1, { ...empty, a: outOfBounds, b: outOfBounds, c: outOfBounds, j1: 8, scratch: outOfBounds });
    expect(() => threads!.run([BLOCK0, BLOCK1], (task) => runTask(task))).toThrow(
      /1 helper thread\(s\) failed/,
    );
    new Float32Array(memory.buffer, 1024, 32).fill(7);
    gemm(BLOCK1, { ...empty, j1: 8, scratch: 4096 });
    threads.run([BLOCK0, BLOCK1], () => {});
    // The helper's block is a zero product (a and b point at the zeros below 1024) written over the 7s.
    expect(new Float32Array(memory.buffer, 1024, 32).every((v) => v === 0)).toBe(true);
  });
});
