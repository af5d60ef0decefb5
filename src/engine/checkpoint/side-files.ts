import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SurgeonError } from '../errors';
import { parseStrictJson } from '../format/strict-json';
import { listFiles } from './list-files';

export const CONFIG_FILE_NAME = 'config.json';
export const GENERATION_CONFIG_FILE_NAME = 'generation_config.json';

/** Files that travel with weights and that jobs copy, compare or report on. */
const SIDE_FILE_NAMES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model',
  'generation_config.json', 'chat_template.jinja', 'added_tokens.json', 'vocab.json', 'merges.txt',
] as const;

/** The side files that make a tokenizer: an output takes them as one set, from one source. */
export const TOKENIZER_SIDE_FILES: readonly string[] = SIDE_FILE_NAMES.filter((name) => name !== GENERATION_CONFIG_FILE_NAME);

/** The known side files present in the folder (as files or links to files), in SIDE_FILE_NAMES order. */
export async function listSideFiles(folder: string): Promise<string[]> {
  const present = new Set(await listFiles(folder));
  return SIDE_FILE_NAMES.filter((name) => present.has(name));
}

/** Reads a JSON object file with the strict parser; undefined when the file does not exist. */
export async function readJsonObjectFile(path: string): Promise<Record<string, unknown> | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SurgeonError('io', `cannot read the file: ${(error as Error).message}`, path);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SurgeonError('invalid-json', 'the file is not valid UTF-8', path);
  }
  const json = parseStrictJson(text, path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SurgeonError('invalid-json', 'the file must hold a JSON object', path);
  }
  return json as Record<string, unknown>;
}

export async function readCheckpointConfigs(folder: string): Promise<{
  config?: Record<string, unknown>; generationConfig?: Record<string, unknown>;
}> {
  const [config, generationConfig] = await Promise.all([
    readJsonObjectFile(join(folder, CONFIG_FILE_NAME)),
    readJsonObjectFile(join(folder, GENERATION_CONFIG_FILE_NAME)),
  ]);
  return {
    ...(config === undefined ? {} : { config }),
    ...(generationConfig === undefined ? {} : { generationConfig }),
  };
}
