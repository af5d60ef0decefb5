import { SURGEON_ENV } from '../../shared/environment';
import { loadKernels, type ElementwiseKernels } from '../kernels/kernels';

/**
 * The kernels a job runs on: `CHECKPOINT_SURGEON_BACKEND` (`auto`, `wasm` or `js`) chooses, as the
 * extension's `computeBackend` setting does for its worker; both give the same bits.
 */
function loadJobKernels(backend = process.env[SURGEON_ENV.backend]): Promise<ElementwiseKernels> {
  return loadKernels(backend === 'js' ? 'js' : backend === 'wasm' ? 'wasm-simd' : undefined);
}

/** Runs `work` on a job's kernels and stops their threads afterwards, however it ends. */
export async function withJobKernels<T>(work: (kernels: ElementwiseKernels) => Promise<T>): Promise<T> {
  const kernels = await loadJobKernels();
  try {
    return await work(kernels);
  } finally {
    kernels.dispose();
  }
}
