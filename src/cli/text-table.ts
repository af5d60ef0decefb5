/** Column-aligned text tables with a header row: the CLI's one way of printing rows. */
import { formatCount } from '../shared/quantities';

export interface TextColumn {
  header: string;
  /** Numbers align right, words left (the default). */
  align?: 'left' | 'right';
}

/** Lines of the table, each starting with `indent`; the last column is not padded, so long names never wrap early. */
export function textTable(columns: readonly TextColumn[], rows: ReadonlyArray<readonly string[]>, indent = '  '): string[] {
  const widths = columns.map((column, index) => Math.max(column.header.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: readonly string[]): string => indent + columns.map((column, index) => {
    const cell = cells[index] ?? '';
    if (index === columns.length - 1) return column.align === 'right' ? cell.padStart(widths[index]!) : cell;
    return column.align === 'right' ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!);
  }).join('  ').trimEnd();
  return [line(columns.map((column) => column.header)), ...rows.map(line)];
}

/** `1 tensor`, `2 tensors`: counts in prose agree with their noun. */
export function countOf(count: number, noun: string, plural = `${noun}s`): string {
  return `${formatCount(count)} ${count === 1 ? noun : plural}`;
}
