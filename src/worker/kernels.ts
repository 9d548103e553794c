/**
 * @module
 * The one place the worker chooses its kernels: WebAssembly relaxed SIMD (fused multiply-add; built by
 * `npm run build:wasm`, bundled by wrangler as a compiled module), single-threaded over a fixed memory reserve.
 * Not the kernels themselves.
 */
import relaxedModule from '../../build/kernels-relaxed.wasm';
import type { Kernels } from '../kernels/kernels.ts';
import { createWasmKernels } from '../kernels/wasm-kernels.ts';

/**
 * Linear memory reserved for the kernels. Peak use is a fine-tune of a 784-1024-512-10 f32 model with 256
 * examples: serving model, parent and child predictors, weights, gradients and activations, about 35 MiB.
 */
export const KERNEL_MEMORY_BYTES = 48 * 1024 * 1024;

let kernels: Kernels | null = null;

/** The isolate's kernels, created once. */
export function getKernels(): Kernels {
  kernels ??= createWasmKernels(relaxedModule, { capacityBytes: KERNEL_MEMORY_BYTES });
  return kernels;
}
