/**
 * Turns the sums a kernel accumulates while streaming a tensor into the statistics of its delta.
 * The layer-by-module cells and the whole-model summary built from those statistics are in
 * src/shared/report-summary.ts, shared with the report webview's live view.
 */
import type { DeltaStatistics } from '../kernels/delta-statistics';
import type { DeltaStats, Histogram } from '../../shared/report';

/**
 * What a kernel accumulates over one tensor (in f64, for the f32 delta d = b - a), with its histogram
 * already reduced to equal-width bins. Here `count` is the finite elements only: those in the sums.
 */
export type DeltaAccumulator = Omit<DeltaStatistics, 'histogram' | 'min' | 'max'> & { histogram: Histogram };

export function finishTensorStats(acc: DeltaAccumulator): DeltaStats {
  const deltaNorm = Math.sqrt(acc.sumSquares);
  const baseNorm = Math.sqrt(acc.baseSumSquares);
  const meanDelta = acc.count > 0 ? acc.sum / acc.count : 0;
  // E[d^2] - E[d]^2 can come out a hair below zero from rounding when every d is equal.
  const variance = acc.count > 0 ? Math.max(0, acc.sumSquares / acc.count - meanDelta * meanDelta) : 0;
  const normProduct = Math.sqrt(acc.baseSumSquares * acc.otherSumSquares);
  return {
    deltaNorm,
    baseNorm,
    relativeNorm: baseNorm > 0 ? deltaNorm / baseNorm : null,
    // Rounding can carry |cosine| a few ulps past 1 for (anti)parallel tensors; a cosine never exceeds 1.
    cosine: normProduct > 0 ? clamp(acc.dot / normProduct, -1, 1) : null,
    maxAbsDelta: acc.maxAbs,
    meanDelta,
    stdDelta: Math.sqrt(variance),
    zeroFraction: acc.count > 0 ? acc.unchanged / acc.count : 0,
    nonFinite: acc.nonFinite,
    histogram: acc.histogram,
  };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
