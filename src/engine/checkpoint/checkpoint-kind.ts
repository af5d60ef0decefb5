/**
 * What a checkpoint path is, for the tools around the jobs: whether a folder holds a residual (its
 * config.json is a residuals config, as compute writes it and the Python `residuals` package reads it),
 * and which file of a checkpoint stands for its weights (the file a viewer opens).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { INDEX_FILE_NAME, SINGLE_FILE_NAME } from '../format/safetensors-writer';
import { listFiles } from './list-files';

const SAFETENSORS_EXTENSION = '.safetensors';
const INDEX_SUFFIX = '.safetensors.index.json';
const WEIGHTS_FILE_PATTERN = /\.safetensors(\.index\.json)?$/;

/** A parsed config.json of a residual: it carries `residuals_version` (report/residuals-config.ts). */
export function isResidualsConfig(config: unknown): boolean {
  return typeof config === 'object' && config !== null && typeof (config as Record<string, unknown>)['residuals_version'] === 'string';
}

/** Whether `path` is a folder whose config.json is a residual's; false for files and unreadable configs. */
export async function isResidualFolder(path: string): Promise<boolean> {
  try {
    return isResidualsConfig(JSON.parse(await readFile(join(path, 'config.json'), 'utf8')));
  } catch {
    return false;
  }
}

/**
 * Of a folder's file names, the one that stands for its weights, in the order openCheckpoint looks:
 * `model.safetensors`, `model.safetensors.index.json`, another index, another `.safetensors` file
 * (the first by name where there are several); undefined when there is none.
 */
export function primaryWeightsName(names: readonly string[]): string | undefined {
  const sorted = [...names].sort();
  if (sorted.includes(SINGLE_FILE_NAME)) return SINGLE_FILE_NAME;
  if (sorted.includes(INDEX_FILE_NAME)) return INDEX_FILE_NAME;
  return sorted.find((name) => name.endsWith(INDEX_SUFFIX)) ?? sorted.find((name) => name.endsWith(SAFETENSORS_EXTENSION));
}

/**
 * The weights file of a checkpoint path: the path itself for a `.safetensors` or index file, the
 * primary weights file for a folder (see `primaryWeightsName`); undefined when there is none.
 */
export async function primaryWeightsFile(path: string): Promise<string | undefined> {
  const stats = await stat(path).catch(() => undefined);
  if (stats === undefined) return undefined;
  if (!stats.isDirectory()) return WEIGHTS_FILE_PATTERN.test(path) ? path : undefined;
  const name = primaryWeightsName(await listFiles(path).catch(() => []));
  return name === undefined ? undefined : join(path, name);
}
