import { afterAll, describe, expect, it } from 'vitest';
import { gemmRef } from '../../src/kernels/ts-kernels.ts';
import { compileBuild } from '../../scripts/lib/kernels-node.ts';
import { startKernelThreads, type KernelThreads } from '../../scripts/lib/kernel-threads.ts';
import { randomArray, seeded } from './kernel-checks.ts';

const PAGES = 64; // 4 MiB

describe('startKernelThreads', () => {
  const module = compileBuild('shared');
  const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES, shared: true });
  const gemm = (
    new WebAssembly.Instance(module, { env: { memory } }).exports as { gemm: (...a: number[]) => void }
  ).gemm;
  let threads: KernelThreads | null = null;
  afterAll(async () => {
    await threads?.dispose();
  });

  it('should run the second slice on the helper thread over the same memory', async () => {
    threads = await startKernelThreads(module, memory, 2);
    expect(threads.count).toBe(2);
    const [m, n, k] = [9, 24, 11];
    const [pa, pb, pc, s0, s1] = [1024, 8192, 16384, 65536, 131072];
    const a = randomArray(m * k, seeded(1), new Float32Array(memory.buffer, pa, m * k));
    const b = randomArray(k * n, seeded(2), new Float32Array(memory.buffer, pb, k * n));
    const c = new Float32Array(memory.buffer, pc, m * n);
    const ran: number[] = [];
    threads.run(
      [
        [0, m, n, k, pa, pb, pc, 0, 0, 8, s0],
        [0, m, n, k, pa, pb, pc, 0, 8, n, s1],
      ],
      (task) => {
        ran.push(task[8]);
        gemm(...task);
      },
    );
    expect(ran).toEqual([0]); // the caller only ran its own slice; columns 8.. came from the helper
    const expected = new Float32Array(m * n);
    gemmRef(m, n, k, a, b, expected);
    for (let i = 0; i < m * n; i++) expect(c[i]).toBeCloseTo(expected[i], 5);
  });

  it('should report a helper that trapped, and keep working afterwards', async () => {
    threads ??= await startKernelThreads(module, memory, 2);
    const outOfBounds = PAGES * 65536 + 4096;
    expect(() =>
      threads!.run(
        [
          [0, 4, 8, 4, 0, 0, 1024, 0, 0, 0, 2048],
          [0, 4, 8, 4, outOfBounds, outOfBounds, outOfBounds, 0, 0, 8, outOfBounds],
        ],
        (task) => gemm(...task),
      ),
    ).toThrow(/1 helper thread\(s\) failed/);
    new Float32Array(memory.buffer, 1024, 32).fill(7);
    threads.run(
      [
        [0, 4, 8, 4, 0, 0, 1024, 0, 0, 0, 2048],
        [0, 4, 8, 4, 0, 0, 1024, 0, 0, 8, 4096],
      ],
      () => {},
    );
    // The helper's slice is a zero product (a and b point at the zeros below 1024) written over the 7s.
    expect(new Float32Array(memory.buffer, 1024, 32).every((v) => v === 0)).toBe(true);
  });
});
