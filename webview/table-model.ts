/** Filtering and sorting of the tensor table: pure, so it is tested without a browser. */
import type { TensorReport } from '../src/shared/report';
import type { SortKey } from '../src/shared/webview-protocol';

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
