/**
 * @module
 * The one place the worker chooses its kernels, so moving to the WebAssembly SIMD backend is a one-line change.
 * Not the kernels themselves (see `src/kernels`).
 */
import type { Kernels } from '../kernels/kernels.ts';
import { createTsKernels } from '../kernels/ts-kernels.ts';

let kernels: Kernels | null = null;

/** The isolate's kernels, created once. */
export function getKernels(): Kernels {
  kernels ??= createTsKernels();
  return kernels;
}
