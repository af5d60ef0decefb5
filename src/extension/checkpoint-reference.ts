/**
 * Finds a checkpoint reference under the cursor in a YAML or JSON line: the value of a key such as
 * `model_name_or_path` or `base_model`. Pure text work, unit-tested without VS Code.
 */

/** Keys whose value names a model in training configs (transformers, axolotl, trl, llama-factory, model cards). */
const CHECKPOINT_KEYS = ['model_name_or_path', 'base_model', 'pretrained_model_name_or_path', 'model', 'tokenizer_name'] as const;

export interface CheckpointReference {
  key: string;
  value: string;
  /** Character offsets of the value in the line, end exclusive. */
  start: number;
  end: number;
}

// key, optionally quoted, then `:`; the value is quoted or runs to a comment, comma or line end.
const KEY_VALUE = new RegExp(
  `(?:^|[\\s{,])(["']?)(${CHECKPOINT_KEYS.join('|')})\\1\\s*:\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|'([^']*)'|([^\\s,#}\\]][^,#}\\]]*?))\\s*(?:$|[,}\\]#])`,
  'g',
);
// A YAML list item under one of the keys (`base_model:\n  - org/name`) is handled by the caller.
const LIST_ITEM = /^(\s*-\s+)(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s#][^#]*?))\s*(?:#.*)?$/;

export function findReferenceAt(line: string, character: number): CheckpointReference | undefined {
  for (const match of line.matchAll(KEY_VALUE)) {
    const key = match[2] ?? '';
    const raw = match[3] ?? match[4] ?? match[5];
    if (raw === undefined) continue;
    const quoted = match[3] !== undefined || match[4] !== undefined;
    const start = line.indexOf(quoted ? `${match[3] !== undefined ? '"' : "'"}${raw}` : raw, (match.index ?? 0) + key.length) + (quoted ? 1 : 0);
    const end = start + raw.length;
    if (character >= start - (quoted ? 1 : 0) && character <= end + (quoted ? 1 : 0)) {
      const value = match[3] !== undefined ? unescapeJson(raw) : raw;
      if (value.trim() === '') return undefined;
      return { key, value: value.trim(), start, end };
    }
  }
  return undefined;
}

/** A YAML list item (`  - org/name`) whose list belongs to one of the keys (`keyLine` is the line that opened it). */
export function findListItemAt(line: string, character: number, keyLine: string): CheckpointReference | undefined {
  const keyMatch = /^\s*(["']?)([A-Za-z_]+)\1\s*:\s*(?:#.*)?$/.exec(keyLine);
  const key = keyMatch?.[2];
  if (key === undefined || !(CHECKPOINT_KEYS as readonly string[]).includes(key)) return undefined;
  const item = LIST_ITEM.exec(line);
  if (item === null) return undefined;
  const raw = item[2] ?? item[3] ?? item[4] ?? '';
  const quoted = item[4] === undefined;
  const start = (item[1] ?? '').length + (quoted ? 1 : 0);
  const end = start + raw.length;
  if (character < start - 1 || character > end + 1 || raw.trim() === '') return undefined;
  return { key, value: raw.trim(), start, end };
}

function unescapeJson(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}
