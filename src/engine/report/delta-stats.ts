/**
 * Turns the sums a kernel accumulates while streaming a tensor into the statistics of its delta,
 * and rolls tensor statistics up into layer-by-module cells and a whole-model summary.
 */
import type { DeltaStatistics } from '../kernels/delta-statistics';
import type { DeltaStats, DiffSummary, Histogram, LayerCell, TensorReport, TensorStatus } from '../../shared/report';

/**
 * What a kernel accumulates over one tensor (in f64, for the f32 delta d = b - a), with its histogram
 * already reduced to equal-width bins. Here `count` is the finite elements only: those in the sums.
 */
export type DeltaAccumulator = Omit<DeltaStatistics, 'histogram' | 'min' | 'max'> & { histogram: Histogram };

/** How many tensors the summary lists as most changed. */
export const MOST_CHANGED_COUNT = 10;

export const TENSOR_STATUSES: readonly TensorStatus[] = [
  'changed', 'unchanged', 'shape-mismatch', 'dtype-mismatch', 'only-in-a', 'only-in-b',
];

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

/**
 * One cell per (layer, module): norms add in quadrature across the tensors of a cell (weights and
 * biases, the experts of a mixture), so a cell's relative norm is that of the concatenated tensors.
 * Cells are sorted by layer (tensors outside the blocks last), then module.
 */
export function aggregateLayers(tensors: readonly TensorReport[]): LayerCell[] {
  const cells = new Map<string, { layer: number | null; module: string; delta: number; base: number; tensors: number }>();
  for (const tensor of tensors) {
    if (tensor.deltaNorm === undefined || tensor.baseNorm === undefined) continue;
    const key = `${tensor.layer ?? ''}\u0000${tensor.module}`;
    let cell = cells.get(key);
    if (!cell) {
      cell = { layer: tensor.layer, module: tensor.module, delta: 0, base: 0, tensors: 0 };
      cells.set(key, cell);
    }
    cell.delta += tensor.deltaNorm * tensor.deltaNorm;
    cell.base += tensor.baseNorm * tensor.baseNorm;
    cell.tensors++;
  }
  return [...cells.values()]
    .sort((x, y) => compareLayers(x.layer, y.layer) || compareText(x.module, y.module))
    .map((cell) => {
      const deltaNorm = Math.sqrt(cell.delta);
      const baseNorm = Math.sqrt(cell.base);
      return {
        layer: cell.layer,
        module: cell.module,
        relativeNorm: baseNorm > 0 ? deltaNorm / baseNorm : null,
        deltaNorm,
        baseNorm,
        tensors: cell.tensors,
      };
    });
}

/**
 * Counts by status and whole-model figures. `parametersChanged` counts the elements of tensors whose
 * status is `changed`; `parametersCompared` those of every tensor with statistics.
 */
export function summarize(tensors: readonly TensorReport[]): DiffSummary {
  const counts = Object.fromEntries(TENSOR_STATUSES.map((status) => [status, 0])) as Record<TensorStatus, number>;
  let parametersChanged = 0;
  let parametersCompared = 0;
  let deltaSquares = 0;
  let baseSquares = 0;
  let compared = 0;
  const ranked: Array<{ name: string; relativeNorm: number }> = [];
  for (const tensor of tensors) {
    counts[tensor.status]++;
    if (tensor.deltaNorm === undefined || tensor.baseNorm === undefined) continue;
    const elements = tensor.elements ?? 0;
    compared++;
    parametersCompared += elements;
    if (tensor.status === 'changed') parametersChanged += elements;
    deltaSquares += tensor.deltaNorm * tensor.deltaNorm;
    baseSquares += tensor.baseNorm * tensor.baseNorm;
    if (tensor.relativeNorm !== undefined && tensor.relativeNorm !== null) {
      ranked.push({ name: tensor.name, relativeNorm: tensor.relativeNorm });
    }
  }
  ranked.sort((x, y) => y.relativeNorm - x.relativeNorm || compareText(x.name, y.name));
  return {
    counts,
    parametersChanged,
    parametersCompared,
    globalRelativeNorm: compared > 0 && baseSquares > 0 ? Math.sqrt(deltaSquares) / Math.sqrt(baseSquares) : null,
    mostChanged: ranked.slice(0, MOST_CHANGED_COUNT),
  };
}

function compareLayers(x: number | null, y: number | null): number {
  if (x === y) return 0;
  if (x === null) return 1;
  if (y === null) return -1;
  return x - y;
}

function compareText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
