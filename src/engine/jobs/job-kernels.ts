import { loadKernels, type ElementwiseKernels } from '../kernels/kernels';

/**
 * The kernels a job runs on: `CHECKPOINT_SURGEON_BACKEND` (`auto`, `wasm` or `js`) chooses, as the
 * extension's `computeBackend` setting does for its worker; both give the same bits.
 */
export function loadJobKernels(backend = process.env['CHECKPOINT_SURGEON_BACKEND']): Promise<ElementwiseKernels> {
  return loadKernels(backend === 'js' ? 'js' : backend === 'wasm' ? 'wasm-simd' : undefined);
}
