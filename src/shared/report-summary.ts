/**
 * The report's whole-model summary and its layer-by-module cells, rolled up from tensor statistics.
 * One definition for the engine's final report and the webview's live view of a running diff (which
 * recomputes them from the tensors received so far until the final report replaces them), so both
 * mean the same thing by every figure. Pure, with no Node imports: the webview bundle takes it.
 */
import { emptyStatusCounts, type DiffSummary, type LayerCell, type TensorReport } from './report';

/** How many tensors the summary lists as most changed. */
const MOST_CHANGED_COUNT = 10;

/**
 * One cell per (layer, module): norms add in quadrature across the tensors of a cell (weights and
 * biases, the experts of a mixture), so a cell's relative norm is that of the concatenated tensors.
 * Cells are sorted by layer (tensors outside the blocks last), then module.
 */
export function layerCells(tensors: readonly TensorReport[]): LayerCell[] {
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
export function summarizeTensors(tensors: readonly TensorReport[]): DiffSummary {
  const counts = emptyStatusCounts();
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
