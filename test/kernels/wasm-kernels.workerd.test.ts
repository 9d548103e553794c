import { describe, expect, it } from 'vitest';
import { createWasmKernels } from '../../src/kernels/wasm-kernels.ts';
import relaxedModule from '../../build/kernels-relaxed.wasm';
import simdModule from '../../build/kernels-simd.wasm';
import { kernelConformance } from './kernel-checks.ts';

const MiB = 1024 * 1024;

describe('createWasmKernels in workerd (relaxed SIMD build)', () => {
  it('should instantiate the build-time import and run relaxed SIMD', () => {
    expect(relaxedModule).toBeInstanceOf(WebAssembly.Module);
    expect(createWasmKernels(relaxedModule, { capacityBytes: MiB }).name).toBe('wasm-simd-relaxed');
  });
  kernelConformance(() => createWasmKernels(relaxedModule, { capacityBytes: 16 * MiB }), { large: true });
});

describe('createWasmKernels in workerd (plain SIMD build)', () => {
  kernelConformance(() => createWasmKernels(simdModule, { capacityBytes: 16 * MiB }));
});
