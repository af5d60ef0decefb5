import { wasmSimdSupported } from '../kernels/wasm-kernels';
import { createJsMatrixBackend } from './js-matrix-backend';
import type { MatrixBackend } from './matrix-backend';
import { createWasmMatrixBackend } from './wasm-matrix-backend';

/**
 * The products the engine runs without onnxruntime-node: WebAssembly SIMD where the runtime has it,
 * plain JavaScript otherwise. Both give the same bits.
 */
export function createBuiltInMatrixBackend(simd = wasmSimdSupported()): MatrixBackend {
  return simd ? createWasmMatrixBackend() : createJsMatrixBackend();
}
