/** The tensor table as CSV (RFC 4180), in the order and filter the user sees. */
import type { TensorReport } from '../src/shared/report';

export const CSV_COLUMNS = [
  'name', 'status', 'dtype_a', 'dtype_b', 'shape_a', 'shape_b', 'elements', 'layer', 'module',
  'delta_norm', 'base_norm', 'relative_norm', 'cosine', 'max_abs_delta', 'mean_delta', 'std_delta',
  'zero_fraction', 'non_finite', 'resolution',
] as const;

// Spreadsheets evaluate a cell that starts with one of these as a formula; a tensor name from a
// file must not become one, so such cells get a leading apostrophe (OWASP "CSV injection").
const FORMULA_START = /^[=+\-@\t\r]/u;

function csvCell(value: string | number | null | undefined, fromFile: boolean): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'number' ? String(value) : value;
  if (fromFile && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/u.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function tensorsToCsv(tensors: readonly TensorReport[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const t of tensors) {
    const cells: Array<[string | number | null | undefined, boolean]> = [
      [t.name, true], [t.status, false], [t.a?.dtype, true], [t.b?.dtype, true],
      [t.a ? t.a.shape.join('x') : undefined, false], [t.b ? t.b.shape.join('x') : undefined, false],
      [t.elements, false], [t.layer, false], [t.module, true],
      [t.deltaNorm, false], [t.baseNorm, false], [t.relativeNorm, false], [t.cosine, false],
      [t.maxAbsDelta, false], [t.meanDelta, false], [t.stdDelta, false], [t.zeroFraction, false],
      [t.nonFinite, false], [t.resolution, true],
    ];
    lines.push(cells.map(([value, fromFile]) => csvCell(value, fromFile)).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
