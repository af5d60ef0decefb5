/**
 * What a checkpoint's config.json says of it: architecture, model type and vocabulary size. The
 * header-only inspect job reads config.json only for a folder; a single `.safetensors` file opened in
 * the viewer (or the tree's folder whose config the job did not read) gets these from the config.json
 * beside it, so the viewer does not say "unknown" beside a config.json.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InspectResult } from '../shared/jobs';

export interface ConfigFacts {
  architecture: string | null;
  modelType: string | null;
  vocabSize: number | null;
}

const NONE: ConfigFacts = { architecture: null, modelType: null, vocabSize: null };

/** The facts of a parsed config.json (a multimodal config keeps them under `text_config`). */
export function configFacts(config: unknown): ConfigFacts {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return NONE;
  const c = config as Record<string, unknown>;
  const text = typeof c['text_config'] === 'object' && c['text_config'] !== null ? c['text_config'] as Record<string, unknown> : {};
  const architectures = c['architectures'];
  const modelType = c['model_type'];
  const vocab = c['vocab_size'] ?? text['vocab_size'];
  return {
    architecture: Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : null,
    modelType: typeof modelType === 'string' ? modelType : null,
    vocabSize: typeof vocab === 'number' && Number.isSafeInteger(vocab) && vocab > 0 ? vocab : null,
  };
}

/** The facts of `<folder>/config.json`; none where it is missing or not JSON. */
export async function readConfigFacts(folder: string): Promise<ConfigFacts> {
  try {
    return configFacts(JSON.parse(await readFile(join(folder, 'config.json'), 'utf8')));
  } catch {
    return NONE;
  }
}

/** An inspect result as the viewer shows it: what the job left unknown, from the config. */
export interface InspectView extends InspectResult {
  /** config.json's vocab_size, shown where no tokenizer file gives the vocabulary. */
  configVocabSize: number | null;
}

export function withConfigFacts(result: InspectResult, facts: ConfigFacts): InspectView {
  return {
    ...result,
    architecture: result.architecture ?? facts.architecture,
    modelType: result.modelType ?? facts.modelType,
    configVocabSize: facts.vocabSize,
  };
}
