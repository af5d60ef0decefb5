import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SurgeonError } from '../errors';

/**
 * Which files of a model repo make a checkpoint for this project: the safetensors weights, their
 * index, and the side files the reports and the residual's output folder use. Everything else
 * (pickle weights, ONNX, GGUF, images, README) is left on the Hub.
 */
const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_WEIGHTS_FILE = 'model.safetensors';
const SIDE_FILES: readonly string[] = [
  'config.json', 'generation_config.json',
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model',
  'chat_template.jinja', 'added_tokens.json', 'vocab.json', 'merges.txt',
];
/** Weights in pickle formats: loading them can run arbitrary code, so they are never fetched. */
const PICKLE_WEIGHTS = /\.(bin|pt|pth|ckpt|pkl)$/;

export interface RepoFile {
  path: string;
  size: number;
}

export interface CheckpointFilePlan {
  /** Weights chosen without reading the index (empty when an index decides them). */
  weights: string[];
  /** The index file, when the repo has one: its weight_map names the shards to fetch. */
  index?: string;
  sideFiles: string[];
}

/**
 * Chooses the files to fetch from a repo's top-level listing. With an index, the shards it names;
 * else `model.safetensors`; else every top-level `*.safetensors` (a single file of another name).
 * This avoids fetching both the sharded and a consolidated copy of the same weights.
 */
export function planCheckpointFiles(files: readonly RepoFile[], repo: string): CheckpointFilePlan {
  const names = new Set(files.filter((file) => !file.path.includes('/')).map((file) => file.path));
  const sideFiles = SIDE_FILES.filter((name) => names.has(name));
  if (names.has(INDEX_FILE)) return { weights: [], index: INDEX_FILE, sideFiles };
  if (names.has(SINGLE_WEIGHTS_FILE)) return { weights: [SINGLE_WEIGHTS_FILE], sideFiles };
  const safetensors = [...names].filter((name) => name.endsWith('.safetensors')).sort();
  if (safetensors.length > 0) return { weights: safetensors, sideFiles };
  const pickles = [...names].filter((name) => PICKLE_WEIGHTS.test(name)).sort();
  if (pickles.length > 0) {
    throw new SurgeonError(
      'hub',
      `${repo} publishes only pickle weights (${pickles.join(', ')}), no safetensors. Pickle files can run code when loaded, ` +
        'so they are not read; pick a repo or revision with .safetensors weights, or convert it first.',
    );
  }
  throw new SurgeonError('hub', `${repo} has no .safetensors weights at its top level`);
}

/** The shard file names an index's weight_map refers to, each checked to be a plain file name. */
export function shardNamesOfIndex(text: string, file: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SurgeonError('index', `not valid JSON: ${(error as Error).message}`, file);
  }
  const weightMap = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new SurgeonError('index', 'no "weight_map" object', file);
  }
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard.length === 0 || shard === '.' || shard === '..' || /[\\/]/.test(shard)) {
      throw new SurgeonError('shard-path', `shard ${JSON.stringify(shard)} is not a file name inside the folder`, file, tensor);
    }
    shards.add(shard);
  }
  return [...shards].sort();
}

/**
 * Which weight files a local checkpoint folder still lacks: the index's shards that are absent (or
 * dangling symlinks into a cache), or a marker when there is no weight file at all.
 */
export async function missingWeightFiles(folder: string, presentNames: readonly string[]): Promise<string[]> {
  if (presentNames.includes(INDEX_FILE)) {
    const indexPath = join(folder, INDEX_FILE);
    const shards = shardNamesOfIndex(await readFile(indexPath, 'utf8'), indexPath);
    const missing: string[] = [];
    for (const shard of shards) {
      if (!(await isFile(join(folder, shard)))) missing.push(shard);
    }
    return missing;
  }
  for (const name of presentNames) {
    if (name.endsWith('.safetensors') && (await isFile(join(folder, name)))) return [];
  }
  return ['*.safetensors'];
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
