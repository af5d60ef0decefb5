/** The kernels' public surface: import from here. */
export type { ElementwiseKernels, KernelBuffer, KernelName } from './kernel-types';
export { loadKernels } from './load-kernels';
export {
  createDeltaStatistics, mergeDeltaStatistics, finalizeHistogram, DEFAULT_HISTOGRAM_BINS, HISTOGRAM_KEYS,
  type DeltaStatistics, type DeltaHistogram,
} from './delta-statistics';
export { createCompareAccumulator, type CompareAccumulator } from './compare-accumulator';
