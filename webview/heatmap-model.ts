/** The layer x module grid behind the heatmap: axes, cells and the colour scale. Pure. */
import type { LayerCell } from '../src/shared/report';

/** Row label of cells outside the numbered layers (embeddings, final norm, output head). */
export const OUTSIDE_LAYERS = 'other';

export interface HeatmapPoint {
  x: string;
  y: string;
  /** Relative delta norm; null when the base norm is zero. */
  v: number | null;
  /** Colour position in [0, 1]; null = no value. */
  t: number | null;
  cell: LayerCell;
}

export interface HeatmapGrid {
  modules: string[];
  rows: string[];
  points: HeatmapPoint[];
  min: number | null;
  max: number | null;
}

export function layerLabel(layer: number | null): string {
  return layer === null ? OUTSIDE_LAYERS : String(layer);
}

/**
 * Relative norms of a fine-tune span decades (layer norms move far more than projections), so the
 * colour follows log10 of the value between the smallest and largest positive value.
 */
export function colourPosition(value: number | null, min: number | null, max: number | null): number | null {
  if (value === null || !Number.isFinite(value) || min === null || max === null) return null;
  if (value <= 0) return 0;
  if (max <= min) return 1;
  const t = (Math.log10(value) - Math.log10(min)) / (Math.log10(max) - Math.log10(min));
  return Math.min(1, Math.max(0, t));
}

export function buildHeatmapGrid(cells: readonly LayerCell[]): HeatmapGrid {
  const modules: string[] = [];
  const seenModules = new Set<string>();
  const layers = new Set<number>();
  let hasOutside = false;
  let min: number | null = null;
  let max: number | null = null;
  for (const cell of cells) {
    if (!seenModules.has(cell.module)) {
      seenModules.add(cell.module);
      modules.push(cell.module);
    }
    if (cell.layer === null) hasOutside = true;
    else layers.add(cell.layer);
    const value = cell.relativeNorm;
    if (value !== null && Number.isFinite(value) && value > 0) {
      min = min === null ? value : Math.min(min, value);
      max = max === null ? value : Math.max(max, value);
    }
  }
  // Numbered layers in order, cells outside the layers last.
  const rows = [...layers].sort((x, y) => x - y).map(String);
  if (hasOutside) rows.push(OUTSIDE_LAYERS);
  const points = cells.map((cell) => ({
    x: cell.module,
    y: layerLabel(cell.layer),
    v: cell.relativeNorm,
    t: colourPosition(cell.relativeNorm, min, max),
    cell,
  }));
  return { modules, rows, points, min, max };
}
