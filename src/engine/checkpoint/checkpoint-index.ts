import { SurgeonError } from '../errors';
import { compareCodePoints } from '../format/safetensors-writer';
import { parseStrictJson } from '../format/strict-json';

/** A parsed `*.safetensors.index.json`. */
export interface CheckpointIndex {
  /** tensor name -> shard file name, in the order of the file. */
  weightMap: Map<string, string>;
  /** Distinct shard file names, in byte order (so model-00001 comes first). */
  shardNames: string[];
  /**
   * `metadata.total_size` as written. Some published repos compute it from file sizes (headers
   * included), so it is reported, never enforced.
   */
  totalSize?: number;
}

/**
 * Parses and checks an index: a JSON object with a `weight_map` of tensor name to shard file
 * name, each shard name a plain file name inside the folder (an index must not make us read
 * `../../etc/passwd` or an absolute path).
 */
export function parseCheckpointIndex(text: string, file: string): CheckpointIndex {
  const json = parseStrictJson(text, file);
  if (!isPlainObject(json)) {
    throw new SurgeonError('index', 'the index must be a JSON object', file);
  }
  const rawMap = json['weight_map'];
  if (!isPlainObject(rawMap)) {
    throw new SurgeonError('index', 'the index has no "weight_map" object', file);
  }
  const weightMap = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(rawMap)) {
    if (typeof shard !== 'string') {
      throw new SurgeonError('index', 'the weight_map value must be a shard file name (a string)', file, tensor);
    }
    assertPlainFileName(shard, file, tensor);
    weightMap.set(tensor, shard);
  }
  const shardNames = [...new Set(weightMap.values())].sort(compareCodePoints);
  const metadata = json['metadata'];
  if (metadata !== undefined && !isPlainObject(metadata)) {
    throw new SurgeonError('index', 'the index "metadata" must be an object', file);
  }
  const totalSize = metadata?.['total_size'];
  return typeof totalSize === 'number' ? { weightMap, shardNames, totalSize } : { weightMap, shardNames };
}

/** Refuses anything but a plain file name: no separators, no `..`, no drive or absolute path. */
function assertPlainFileName(name: string, file: string, tensor?: string): void {
  const reason = name === '' ? 'is empty'
    : name === '.' || name === '..' ? 'names a folder'
    : /[/\\]/.test(name) ? 'contains a path separator'
    : name.includes(':') ? 'contains ":" (a drive or stream on Windows)'
    : name.includes('\0') ? 'contains a NUL character'
    : undefined;
  if (reason !== undefined) {
    throw new SurgeonError('shard-path',
      `the shard name ${JSON.stringify(name)} ${reason}; shards must be files inside the checkpoint folder`, file, tensor);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
