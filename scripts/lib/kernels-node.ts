/**
 * @module
 * Where Node gets its kernels: the TypeScript reference, or the WebAssembly build from `build/` (relaxed SIMD
 * where V8 can run it, else plain SIMD), optionally with helper threads. Not used by the Worker, which
 * imports the .wasm at build time.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createWasmKernels } from '../../src/kernels/wasm-kernels.ts';
import { startKernelThreads } from './kernel-threads.ts';

export interface LoadKernelsOptions {
  backend: 'wasm' | 'ts';
  /** Threads for GEMM (wasm only); default `os.availableParallelism()`; 1 means none. */
  threads?: number;
  /** Bytes of WebAssembly memory reserved up front; default 256 MiB with threads, 64 MiB without. */
  capacityBytes?: number;
  /** false: use the plain-SIMD build even where relaxed SIMD is available (default true). */
  relaxed?: boolean;
}

/** Kernels plus a way to stop their helper threads (a no-op without threads). */
export type LoadedKernels = Kernels & { dispose(): Promise<void> };

const BUILD_DIR = new URL('../../build/', import.meta.url);
const PAGE = 65536;
// The Workers types declare Module abstract (workerd refuses run-time compilation); Node compiles fine.
const NodeWasmModule = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module;

/**
 * @throws Error when the WebAssembly build is missing ("run npm run build:wasm").
 */
export async function loadKernels(options: LoadKernelsOptions): Promise<LoadedKernels> {
  if (options.backend === 'ts') return { ...createTsKernels(), dispose: async () => {} };
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  if (threads > 1) {
    const capacity = options.capacityBytes ?? 256 * 1024 * 1024;
    const module = compileBuild('shared', options.relaxed);
    const pages = Math.ceil(capacity / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    try {
      const pool = await startKernelThreads(module, memory, threads);
      const kernels = createWasmKernels(module, { memory, threads: pool });
      return Object.assign(kernels, { dispose: () => pool.dispose() });
    } catch (error) {
      console.warn(`kernels: threads unavailable, running on one thread (${(error as Error).message})`);
    }
  }
  const kernels = createWasmKernels(compileBuild('plain', options.relaxed), {
    capacityBytes: options.capacityBytes ?? 64 * 1024 * 1024,
  });
  return Object.assign(kernels, { dispose: async () => {} });
}

/**
 * Reads and compiles `build/kernels-{relaxed,simd}[-shared].wasm`: relaxed when this runtime validates it
 * (after enabling the flag on Node 20), else plain SIMD.
 * @throws Error when the build is missing.
 */
export function compileBuild(memory: 'plain' | 'shared', relaxed = true): WebAssembly.Module {
  const suffix = memory === 'shared' ? '-shared' : '';
  if (relaxed) {
    const bytes = readBuild(`kernels-relaxed${suffix}.wasm`);
    if (!WebAssembly.validate(bytes)) enableRelaxedSimd();
    if (WebAssembly.validate(bytes)) return new NodeWasmModule(bytes);
  }
  return new NodeWasmModule(readBuild(`kernels-simd${suffix}.wasm`));
}

/**
 * Node 20's V8 ships relaxed SIMD behind a flag; wasm feature flags are read when a module is compiled, so
 * setting it at run time works, and it is 20-30% faster here (f32x4.relaxed_madd becomes one FMA).
 * Node 22+ has it on by default, and there this is never called.
 */
function enableRelaxedSimd(): void {
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // Runtimes without V8 flags: keep the plain build.
  }
}

/**
 * The bytes of `build/<name>`.
 * @throws Error naming the missing file and the command that builds it.
 */
export function readBuild(name: string): Uint8Array {
  const url = new URL(name, BUILD_DIR);
  try {
    return readFileSync(url);
  } catch (error) {
    throw new Error(`kernels: ${url.pathname} is missing; run npm run build:wasm`, { cause: error });
  }
}
