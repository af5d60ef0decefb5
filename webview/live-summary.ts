/**
 * The summary and the layer x module cells computed from the tensors received so far, so a live
 * run shows counts and a heatmap before the engine's final report (which then replaces them).
 */
import type { DiffSummary, LayerCell, TensorReport, TensorStatus } from '../src/shared/report';

const MOST_CHANGED_COUNT = 10;

export function emptyCounts(): Record<TensorStatus, number> {
  return { changed: 0, unchanged: 0, 'shape-mismatch': 0, 'dtype-mismatch': 0, 'only-in-a': 0, 'only-in-b': 0 };
}

export function summarizeTensors(tensors: readonly TensorReport[]): DiffSummary {
  const counts = emptyCounts();
  let parametersChanged = 0;
  let parametersCompared = 0;
  let deltaSquares = 0;
  let baseSquares = 0;
  const ranked: Array<{ name: string; relativeNorm: number }> = [];
  for (const tensor of tensors) {
    counts[tensor.status] += 1;
    if (tensor.deltaNorm === undefined || tensor.elements === undefined) continue;
    parametersCompared += tensor.elements;
    parametersChanged += Math.round(tensor.elements * (1 - (tensor.zeroFraction ?? 0)));
    deltaSquares += tensor.deltaNorm ** 2;
    baseSquares += (tensor.baseNorm ?? 0) ** 2;
    if (typeof tensor.relativeNorm === 'number') ranked.push({ name: tensor.name, relativeNorm: tensor.relativeNorm });
  }
  ranked.sort((x, y) => y.relativeNorm - x.relativeNorm);
  return {
    counts,
    parametersChanged,
    parametersCompared,
    globalRelativeNorm: baseSquares > 0 ? Math.sqrt(deltaSquares) / Math.sqrt(baseSquares) : null,
    mostChanged: ranked.slice(0, MOST_CHANGED_COUNT),
  };
}

/** Norms add in squares, so a cell's norms are the square roots of its tensors' summed squares. */
export function layerCellsOf(tensors: readonly TensorReport[]): LayerCell[] {
  const cells = new Map<string, { layer: number | null; module: string; delta: number; base: number; tensors: number }>();
  for (const tensor of tensors) {
    if (tensor.deltaNorm === undefined) continue;
    const key = `${tensor.layer ?? ''}\u0000${tensor.module}`;
    let cell = cells.get(key);
    if (cell === undefined) {
      cell = { layer: tensor.layer, module: tensor.module, delta: 0, base: 0, tensors: 0 };
      cells.set(key, cell);
    }
    cell.delta += tensor.deltaNorm ** 2;
    cell.base += (tensor.baseNorm ?? 0) ** 2;
    cell.tensors += 1;
  }
  return [...cells.values()].map((cell) => ({
    layer: cell.layer,
    module: cell.module,
    deltaNorm: Math.sqrt(cell.delta),
    baseNorm: Math.sqrt(cell.base),
    relativeNorm: cell.base > 0 ? Math.sqrt(cell.delta) / Math.sqrt(cell.base) : null,
    tensors: cell.tensors,
  }));
}
