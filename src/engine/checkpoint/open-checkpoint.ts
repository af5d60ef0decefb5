import { access, readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SurgeonError, isSurgeonError } from '../errors';
import { readSafetensorsHeaderWithStats } from '../format/safetensors-header';
import { compareCodePoints, INDEX_FILE_NAME, SINGLE_FILE_NAME } from '../format/safetensors-writer';
import { parseCheckpointIndex } from './checkpoint-index';
import type { Checkpoint, CheckpointFile, CheckpointLayout, MissingWeightFile, TensorRef } from './checkpoint-types';
import { listFiles } from './list-files';
import { listSideFiles, readCheckpointConfigs } from './side-files';

/**
 * Enough parallel header reads to hide disk and network-filesystem latency on large sharded
 * checkpoints, few enough to stay far from the process's open-file limit.
 */
const MAX_PARALLEL_HEADER_READS = 16;

const SAFETENSORS_EXTENSION = '.safetensors';
const INDEX_SUFFIX = '.safetensors.index.json';
const SHARD_NAME_PATTERN = /-\d{5}-of-\d{5}\.safetensors$/;
const OTHER_WEIGHT_EXTENSIONS = ['.bin', '.pt', '.pth', '.gguf', '.ckpt'];

export interface OpenCheckpointOptions {
  /**
   * 'required' (the default) refuses a checkpoint whose weights are not all there, naming every
   * missing or pointer file at once. 'optional' opens it anyway, for the jobs that can say something
   * without them (diff's config and tokenizer, inspect's index): the absent files are listed in
   * `missingWeights` and `tensors` holds those of the files that are present.
   */
  weights?: 'required' | 'optional';
}

/**
 * Opens a checkpoint: a folder (with `model.safetensors`, an index and its shards, or a single
 * `.safetensors` file of another name), one `.safetensors` file, or an index file. Only headers
 * are read; every refusal names the file and the rule.
 */
export async function openCheckpoint(path: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  const target = resolve(path);
  const optional = options.weights === 'optional';
  const stats = await stat(target).catch((error: NodeJS.ErrnoException) => {
    throw new SurgeonError('io', `cannot open the checkpoint: ${error.code === 'ENOENT' ? 'no such file or folder' : error.message}`, target);
  });
  if (stats.isDirectory()) return openFolder(target, optional);
  if (target.endsWith('.index.json')) return openSharded(dirname(target), target, optional);
  const file = await readCheckpointFile(target);
  return assemble(dirname(target), 'file', [file], { sideFiles: [] });
}

async function openFolder(root: string, optional: boolean): Promise<Checkpoint> {
  const files = (await listFiles(root)).sort(compareCodePoints);
  // transformers looks for the single file before the index; so do we.
  if (files.includes(SINGLE_FILE_NAME)) return openSingle(root, SINGLE_FILE_NAME, optional);
  if (files.includes(INDEX_FILE_NAME)) return openSharded(root, join(root, INDEX_FILE_NAME), optional);
  const indexes = files.filter((name) => name.endsWith(INDEX_SUFFIX));
  if (indexes.length > 1) {
    throw new SurgeonError('mixed-models', `the folder holds several index files (${indexes.join(', ')}); name the one to open`, root);
  }
  if (indexes.length === 1 && indexes[0] !== undefined) return openSharded(root, join(root, indexes[0]), optional);
  const weights = files.filter((name) => name.endsWith(SAFETENSORS_EXTENSION));
  if (weights.length === 1 && weights[0] !== undefined) return openSingle(root, weights[0], optional);
  if (weights.length === 0) {
    const others = files.filter((name) => OTHER_WEIGHT_EXTENSIONS.some((extension) => name.endsWith(extension)));
    const hint = others.length > 0
      ? ` (found ${others.join(', ')}: only safetensors checkpoints are read; convert them first)`
      : '';
    const message = `the folder holds no .safetensors weights${hint}`;
    if (!optional) throw new SurgeonError('no-weights', message, root);
    const [configs, sideFiles] = await Promise.all([readCheckpointConfigs(root), listSideFiles(root)]);
    return assemble(root, 'single', [], { ...configs, sideFiles, missingWeights: [{ file: '', reason: 'no-weights', message }] });
  }
  if (weights.every((name) => SHARD_NAME_PATTERN.test(name))) {
    throw new SurgeonError('index',
      `the folder holds shards (${weights.join(', ')}) but no ${INDEX_FILE_NAME} saying which tensor is where`, root);
  }
  throw new SurgeonError('mixed-models',
    `the folder holds several unrelated .safetensors files (${weights.join(', ')}) and no index; `
    + 'open one file by its path, or keep one model per folder', root);
}

async function openSingle(root: string, name: string, optional: boolean): Promise<Checkpoint> {
  const [settled, configs, sideFiles] = await Promise.all([
    readCheckpointFile(join(root, name)).then(
      (value): PromiseSettledResult<CheckpointFile> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<CheckpointFile> => ({ status: 'rejected', reason }),
    ),
    readCheckpointConfigs(root),
    listSideFiles(root),
  ]);
  if (settled.status === 'fulfilled') return assemble(root, 'single', [settled.value], { ...configs, sideFiles });
  const missing = missingWeightFile(settled.reason, name);
  if (!optional || missing === undefined) throw settled.reason;
  return assemble(root, 'single', [], { ...configs, sideFiles, missingWeights: [missing] });
}

async function openSharded(root: string, indexPath: string, optional: boolean): Promise<Checkpoint> {
  const index = parseCheckpointIndex(await readIndexText(indexPath), indexPath);
  if (index.weightMap.size === 0) {
    throw new SurgeonError('no-weights', 'the index lists no tensors', indexPath);
  }
  const [settled, configs, sideFiles, folderFiles] = await Promise.all([
    mapSettledWithLimit(index.shardNames, MAX_PARALLEL_HEADER_READS, (name) => readCheckpointFile(join(root, name))),
    readCheckpointConfigs(root),
    listSideFiles(root),
    readdir(root),
  ]);
  const shards = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const missingWeights: MissingWeightFile[] = [];
  const failures: unknown[] = [];
  settled.forEach((result, position) => {
    if (result.status === 'fulfilled') return;
    const missing = missingWeightFile(result.reason, index.shardNames[position]!);
    if (missing) missingWeights.push(missing);
    else failures.push(result.reason);
  });
  // A shard that is there but broken is refused whatever the option: its header says something is wrong.
  if (failures[0] !== undefined) throw failures[0];
  if (missingWeights.length > 0 && !optional) throw missingWeightsError(missingWeights, index.shardNames.length, root);
  const absent = new Set(missingWeights.map((missing) => missing.file));
  checkIndexAgainstHeaders(new Map([...index.weightMap].filter(([, shard]) => !absent.has(shard))), shards, indexPath);
  refuseUnreferencedShards(index.shardNames, folderFiles, indexPath);
  return assemble(root, 'sharded', shards, {
    ...configs, sideFiles, indexPath, indexedTensors: index.weightMap, ...(missingWeights.length > 0 ? { missingWeights } : {}),
  });
}

/** A shard that is not there to read (a Git LFS pointer, a file never downloaded), or undefined for any other failure. */
function missingWeightFile(error: unknown, file: string): MissingWeightFile | undefined {
  if (!isSurgeonError(error)) return undefined;
  if (error.rule === 'lfs-pointer') return { file, reason: 'lfs-pointer', message: error.message };
  if (error.rule === 'missing-shard') return { file, reason: 'missing', message: 'the file does not exist' };
  return undefined;
}

/**
 * One refusal for every shard that is not there, so that a half-fetched clone is fixed in one go. Git
 * LFS pointers come first: `git lfs pull` explains the other failures of such a clone.
 */
function missingWeightsError(missing: readonly MissingWeightFile[], shards: number, root: string): SurgeonError {
  // The refusal's file is the first of them, as a single missing shard's refusal names that shard.
  const pointers = missing.filter((file) => file.reason === 'lfs-pointer').map((file) => file.file);
  const absent = missing.filter((file) => file.reason === 'missing').map((file) => file.file);
  const parts = [
    ...(pointers.length > 0 ? [`Git LFS pointers, not weights: ${pointers.join(', ')}`] : []),
    ...(absent.length > 0 ? [`not in the folder: ${absent.join(', ')}`] : []),
  ];
  const fix = pointers.length > 0
    ? 'run `git lfs pull` in the clone (or download the real files from the model page)'
    : 'download the missing shards (or open the folder the index came from)';
  return new SurgeonError(pointers.length > 0 ? 'lfs-pointer' : 'missing-shard',
    `${missing.length} of the ${shards} shards the index names are not usable (${parts.join('; ')}); ${fix}`,
    join(root, pointers[0] ?? absent[0] ?? ''));
}

async function readIndexText(indexPath: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(indexPath);
  } catch (error) {
    throw new SurgeonError('io', `cannot read the index: ${(error as Error).message}`, indexPath);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SurgeonError('index', 'the index is not valid UTF-8', indexPath);
  }
}

function checkIndexAgainstHeaders(weightMap: Map<string, string>, shards: CheckpointFile[], indexPath: string): void {
  const foundIn = new Map<string, string>();
  for (const shard of shards) {
    for (const tensor of shard.header.tensors) {
      const previous = foundIn.get(tensor.name);
      if (previous !== undefined) {
        throw new SurgeonError('duplicate-tensor', `the tensor is stored in two shards: ${previous} and ${shard.name}`,
          shard.path, tensor.name);
      }
      foundIn.set(tensor.name, shard.name);
      const listed = weightMap.get(tensor.name);
      if (listed === undefined) {
        throw new SurgeonError('index', `the shard ${shard.name} holds a tensor the index does not list`, indexPath, tensor.name);
      }
      if (listed !== shard.name) {
        throw new SurgeonError('index', `the index places the tensor in ${listed} but it is stored in ${shard.name}`,
          indexPath, tensor.name);
      }
    }
  }
  for (const [name, shard] of weightMap) {
    if (!foundIn.has(name)) {
      throw new SurgeonError('missing-tensor', `the index places the tensor in ${shard} but that shard's header lacks it`,
        indexPath, name);
    }
  }
}

/**
 * A shard of the same numbered set (`-of-00003`) that the index never mentions means the index
 * is truncated or from another save: its tensors would silently go missing.
 */
function refuseUnreferencedShards(shardNames: string[], folderFiles: string[], indexPath: string): void {
  const referenced = new Set(shardNames);
  const setSuffixes = new Set(shardNames.flatMap((name) => name.match(SHARD_NAME_PATTERN)?.[0].replace(/^-\d{5}/, '') ?? []));
  const orphan = folderFiles.find((name) =>
    !referenced.has(name) && SHARD_NAME_PATTERN.test(name)
    && setSuffixes.has(name.match(SHARD_NAME_PATTERN)?.[0].replace(/^-\d{5}/, '') ?? ''));
  if (orphan !== undefined) {
    throw new SurgeonError('index', `the folder holds the shard ${orphan} of the same set, but the index never references it`, indexPath);
  }
}

async function readCheckpointFile(path: string): Promise<CheckpointFile> {
  try {
    const { header, stats } = await readSafetensorsHeaderWithStats(path);
    return { path, name: basename(path), size: stats.size, mtimeMs: stats.mtimeMs, header };
  } catch (error) {
    if (isSurgeonError(error) && error.rule === 'io' && !(await exists(path))) {
      throw new SurgeonError('missing-shard', 'the weights file does not exist', path);
    }
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

function assemble(
  root: string,
  layout: CheckpointLayout,
  files: CheckpointFile[],
  extras: Pick<Checkpoint, 'config' | 'generationConfig' | 'indexPath' | 'sideFiles' | 'missingWeights' | 'indexedTensors'>,
): Checkpoint {
  const tensors = new Map<string, TensorRef>();
  for (const file of files) {
    for (const info of file.header.tensors) {
      tensors.set(info.name, {
        name: info.name,
        dtype: info.dtype,
        shape: info.shape,
        file,
        offset: file.header.dataStart + info.begin,
        byteLength: info.end - info.begin,
        elementCount: info.shape.reduce((product, dimension) => product * dimension, 1),
      });
    }
  }
  return { root, layout, files, tensors, ...extras };
}

/** Runs `task` over the items with at most `limit` in flight; results keep the items' order. */
async function mapSettledWithLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<Array<PromiseSettledResult<R>>> {
  const results: Array<PromiseSettledResult<R>> = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await task(items[index] as T) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
