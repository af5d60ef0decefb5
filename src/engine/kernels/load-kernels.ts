import { createJsKernels } from './js-kernels';
import type { ElementwiseKernels, KernelName } from './kernel-types';
import { createWasmKernels, wasmSimdSupported } from './wasm-kernels';

/**
 * The WebAssembly SIMD kernels where the runtime supports them (or when `preferred` asks for them), else the
 * plain-JS kernels. Both give the same bits; the WebAssembly ones are about ten times faster.
 * Each call returns a new, independent set of kernels with its own memory (one per worker thread).
 */
export async function loadKernels(preferred?: KernelName): Promise<ElementwiseKernels> {
  if (preferred === 'js' || (preferred === undefined && !wasmSimdSupported())) return createJsKernels();
  return createWasmKernels();
}
