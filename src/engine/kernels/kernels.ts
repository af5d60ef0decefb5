/** The kernels' public surface: import from here. */
export type { ElementwiseKernels, KernelBuffer } from './kernel-types';
export { loadKernels } from './load-kernels';
export { createDeltaStatistics, mergeDeltaStatistics, finalizeHistogram, type DeltaStatistics } from './delta-statistics';
export { createCompareAccumulator, type CompareAccumulator } from './compare-accumulator';
