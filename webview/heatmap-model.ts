/** The layer x module grid behind the heatmap: axes, cells, the colour scale, its legend and keyboard moves. Pure. */
import type { LayerCell } from '../src/shared/report';
import { compareModules } from './module-order';

/** Row label of cells outside the numbered layers (embeddings, final norm, output head). */
export const OUTSIDE_LAYERS = 'other';

export interface HeatmapPoint {
  x: string;
  y: string;
  /** Relative delta norm; null when the base norm is zero. */
  v: number | null;
  /** Colour position in [0, 1]; null = no value. */
  t: number | null;
  /** Position in the grid: index into `rows` and `modules`. */
  row: number;
  column: number;
  cell: LayerCell;
}

export interface HeatmapGrid {
  /** Columns in architecture order (module-order.ts). */
  modules: string[];
  rows: string[];
  points: HeatmapPoint[];
  /** Index of the point at [row][column], or -1 where the grid has no cell. */
  at: number[][];
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
  const seenModules = new Set<string>();
  const layers = new Set<number>();
  let hasOutside = false;
  let min: number | null = null;
  let max: number | null = null;
  for (const cell of cells) {
    seenModules.add(cell.module);
    if (cell.layer === null) hasOutside = true;
    else layers.add(cell.layer);
    const value = cell.relativeNorm;
    if (value !== null && Number.isFinite(value) && value > 0) {
      min = min === null ? value : Math.min(min, value);
      max = max === null ? value : Math.max(max, value);
    }
  }
  const modules = [...seenModules].sort(compareModules);
  // Numbered layers in order, cells outside the layers last.
  const rows = [...layers].sort((x, y) => x - y).map(String);
  if (hasOutside) rows.push(OUTSIDE_LAYERS);
  const rowIndex = new Map(rows.map((label, index) => [label, index]));
  const columnIndex = new Map(modules.map((module, index) => [module, index]));
  const at = rows.map(() => new Array<number>(modules.length).fill(-1));
  const points = cells.map((cell, index) => {
    const row = rowIndex.get(layerLabel(cell.layer))!;
    const column = columnIndex.get(cell.module)!;
    at[row]![column] = index;
    return { x: cell.module, y: layerLabel(cell.layer), v: cell.relativeNorm, t: colourPosition(cell.relativeNorm, min, max), row, column, cell };
  });
  return { modules, rows, points, at, min, max };
}

/** Rows a PageUp / PageDown moves the keyboard focus. */
const PAGE_ROWS = 8;

/**
 * Where the keyboard focus goes from point `from` on `key` (arrow keys, Home/End in the row,
 * Ctrl+Home/End to the first and last cell, PageUp/PageDown by 8 layers), skipping positions
 * without a cell; `from` itself where there is nowhere to go, undefined for other keys.
 */
export function moveFocus(grid: HeatmapGrid, from: number, key: string, ctrl = false): number | undefined {
  const point = grid.points[from];
  if (point === undefined) return grid.points.length > 0 ? firstPoint(grid) : undefined;
  const { row, column } = point;
  const cellAt = (r: number, c: number): number => grid.at[r]?.[c] ?? -1;
  /** The first cell from (r, c) stepping by (dr, dc), not counting (r, c) itself. */
  const scan = (dr: number, dc: number, r = row, c = column): number => {
    for (let i = r + dr, j = c + dc; i >= 0 && i < grid.rows.length && j >= 0 && j < grid.modules.length; i += dr, j += dc) {
      const index = cellAt(i, j);
      if (index >= 0) return index;
    }
    return from;
  };
  switch (key) {
    case 'ArrowRight': return scan(0, 1);
    case 'ArrowLeft': return scan(0, -1);
    case 'ArrowDown': return scan(1, 0);
    case 'ArrowUp': return scan(-1, 0);
    case 'Home': return ctrl ? firstPoint(grid) : scan(0, 1, row, -1);
    case 'End': return ctrl ? lastPoint(grid) : scan(0, -1, row, grid.modules.length);
    case 'PageDown': {
      // The cell PAGE_ROWS down, or the nearest one before it in the column.
      const target = Math.min(grid.rows.length - 1, row + PAGE_ROWS);
      const below = scan(-1, 0, target + 1, column);
      return below !== from && grid.points[below]!.row > row ? below : scan(1, 0);
    }
    case 'PageUp': {
      const target = Math.max(0, row - PAGE_ROWS);
      const above = scan(1, 0, target - 1, column);
      return above !== from && grid.points[above]!.row < row ? above : scan(-1, 0);
    }
    default: return undefined;
  }
}

/** The top-left cell, where the keyboard focus starts. */
export function firstPoint(grid: HeatmapGrid): number {
  for (const row of grid.at) for (const index of row) if (index >= 0) return index;
  return -1;
}

function lastPoint(grid: HeatmapGrid): number {
  for (let r = grid.at.length - 1; r >= 0; r--) {
    const row = grid.at[r]!;
    for (let c = row.length - 1; c >= 0; c--) if (row[c]! >= 0) return row[c]!;
  }
  return -1;
}

export interface LegendTick {
  value: number;
  /** Position along the colour bar, in [0, 1] (the colour position of `value`). */
  position: number;
}

/**
 * Labels closer than this (a share of the bar) would overlap: about the width of one label on the
 * legend's bar (media/report.css `.colour-scale`).
 */
const LEGEND_LABEL_GAP = 0.15;

/**
 * Labels of the heatmap's colour bar: its ends (the smallest and largest value) and, between them,
 * round values at their places on the log scale: powers of ten first, then 5 and 2 x 10^k where
 * they leave room.
 */
export function legendTicks(min: number, max: number): LegendTick[] {
  const ticks: LegendTick[] = [{ value: min, position: 0 }];
  if (!(max > min)) return ticks;
  ticks.push({ value: max, position: 1 });
  for (const mantissa of [1, 5, 2]) {
    for (let exponent = Math.floor(Math.log10(min)); exponent <= Math.ceil(Math.log10(max)); exponent++) {
      const value = Number((mantissa * 10 ** exponent).toPrecision(12));
      if (value <= min || value >= max) continue;
      const position = colourPosition(value, min, max) ?? 0;
      if (ticks.every((tick) => Math.abs(tick.position - position) >= LEGEND_LABEL_GAP)) ticks.push({ value, position });
    }
  }
  return ticks.sort((x, y) => x.position - y.position);
}
