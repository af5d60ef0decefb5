/** Filtering, sorting, number formats and export scope of the tensor table: pure, so it is tested without a browser. */
import { formatCount, formatPercentColumn, statisticColumnFormat, type NumberFormat } from '../src/shared/quantities';
import type { TensorReport } from '../src/shared/report';
import type { SortKey } from '../src/shared/webview-protocol';
import { layerLabel } from './heatmap-model';
import { visibleText } from './visible-text';

export interface TableQuery {
  sort: { key: SortKey; descending: boolean };
  /** Space-separated terms; a row matches when its name contains every term (case-insensitive). */
  filter: string;
  /** Empty = every status. */
  statuses: readonly string[];
  /** Only the tensors of one heatmap cell; null = all. */
  cell?: { layer: number | null; module: string } | null;
}

type SortValue = string | number | null;

function sortValue(tensor: TensorReport, key: SortKey): SortValue {
  switch (key) {
    case 'name': return tensor.name;
    case 'status': return tensor.status;
    case 'dtype': return `${tensor.a?.dtype ?? ''}→${tensor.b?.dtype ?? ''}`;
    case 'elements': return tensor.elements ?? null;
    default: {
      const value = tensor[key];
      return typeof value === 'number' && !Number.isNaN(value) ? value : null;
    }
  }
}

function compareValues(x: SortValue, y: SortValue): number {
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  return String(x).localeCompare(String(y), undefined, { numeric: true });
}

/** Rows that pass the filter, sorted; absent values sort last in both directions, ties by name. */
export function queryTensors(tensors: readonly TensorReport[], query: TableQuery): TensorReport[] {
  const terms = query.filter.toLowerCase().split(/\s+/u).filter((term) => term !== '');
  const statuses = new Set(query.statuses);
  const cell = query.cell ?? null;
  const rows = tensors.filter((tensor) => {
    if (statuses.size > 0 && !statuses.has(tensor.status)) return false;
    if (cell !== null && (tensor.layer !== cell.layer || tensor.module !== cell.module)) return false;
    if (terms.length === 0) return true;
    const name = tensor.name.toLowerCase();
    return terms.every((term) => name.includes(term));
  });
  const { key, descending } = query.sort;
  const keyed = rows.map((tensor) => ({ tensor, value: sortValue(tensor, key) }));
  keyed.sort((x, y) => {
    if (x.value === null || y.value === null) {
      if (x.value !== y.value) return x.value === null ? 1 : -1;
    } else {
      const order = compareValues(x.value, y.value);
      if (order !== 0) return descending ? -order : order;
    }
    return compareValues(x.tensor.name, y.tensor.name);
  });
  return keyed.map((entry) => entry.tensor);
}

/** The table's filter in words, or null when every tensor shows: `status shape-mismatch; layer 3, q; name contains "proj"`. */
export function describeFilter(query: Omit<TableQuery, 'sort'>): string | null {
  const parts: string[] = [];
  if (query.statuses.length > 0) parts.push(`status ${query.statuses.join(' or ')}`);
  const cell = query.cell ?? null;
  if (cell !== null) parts.push(`layer ${layerLabel(cell.layer)}, ${visibleText(cell.module)}`);
  const terms = query.filter.split(/\s+/u).filter((term) => term !== '');
  if (terms.length > 0) parts.push(`name contains ${terms.map((term) => `"${visibleText(term)}"`).join(' and ')}`);
  return parts.length === 0 ? null : parts.join('; ');
}

/** The tensor the histogram shows: the selected one while the table lists it, else the table's first row. */
export function histogramTensor(rows: readonly TensorReport[], selected: string | null): TensorReport | null {
  return rows.find((tensor) => tensor.name === selected) ?? rows[0] ?? null;
}

export interface ExportScope {
  /** The button's label: it says when the export is narrower than the report. */
  label: string;
  /** Which rows the CSV holds, in words, for the notice after the export. */
  rows: string;
  suggestedName: string;
}

/** CSV export writes the rows the table shows, and says so where a filter narrows them (set on any tab). */
export function exportScope(shown: number, total: number, filter: string | null): ExportScope {
  if (filter === null || shown === total) {
    return { label: 'Export CSV', rows: `all ${formatCount(total)} tensors`, suggestedName: 'diff-tensors.csv' };
  }
  return {
    label: `Export CSV (${formatCount(shown)} of ${formatCount(total)} rows)`,
    rows: `${formatCount(shown)} of ${formatCount(total)} tensors, as the table is filtered (${filter})`,
    suggestedName: 'diff-tensors-filtered.csv',
  };
}

/** The table's numeric columns, each with one format for all its rows (src/shared/quantities.ts). */
export type NumericKey = 'deltaNorm' | 'relativeNorm' | 'cosine' | 'maxAbsDelta' | 'zeroFraction';

export function columnFormats(tensors: readonly TensorReport[]): Record<NumericKey, NumberFormat> {
  const column = (key: Exclude<NumericKey, 'zeroFraction'>): NumberFormat => statisticColumnFormat(tensors.map((tensor) => tensor[key]));
  return {
    deltaNorm: column('deltaNorm'),
    relativeNorm: column('relativeNorm'),
    cosine: column('cosine'),
    maxAbsDelta: column('maxAbsDelta'),
    zeroFraction: formatPercentColumn,
  };
}
