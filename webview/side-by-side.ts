/** A line diff laid out in two columns: removed lines left, added lines right, paired in runs. */
import type { LineDiffEntry } from '../src/shared/report';

export interface SideBySideRow {
  left: { text: string; op: 'same' | 'removed' } | null;
  right: { text: string; op: 'same' | 'added' } | null;
}

export function sideBySide(diff: readonly LineDiffEntry[]): SideBySideRow[] {
  const rows: SideBySideRow[] = [];
  let removed: string[] = [];
  let added: string[] = [];
  const flush = (): void => {
    const length = Math.max(removed.length, added.length);
    for (let i = 0; i < length; i += 1) {
      const left = removed[i];
      const right = added[i];
      rows.push({
        left: left === undefined ? null : { text: left, op: 'removed' },
        right: right === undefined ? null : { text: right, op: 'added' },
      });
    }
    removed = [];
    added = [];
  };
  for (const entry of diff) {
    if (entry.op === 'same') {
      flush();
      rows.push({ left: { text: entry.text, op: 'same' }, right: { text: entry.text, op: 'same' } });
    } else if (entry.op === 'removed') {
      removed.push(entry.text);
    } else {
      added.push(entry.text);
    }
  }
  flush();
  return rows;
}
