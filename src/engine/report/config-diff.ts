/**
 * Differences between two config.json files, and whether a residual between the two models (or
 * applied from one to the other) makes sense at all: the shapes of every layer follow from a few
 * keys, so a mismatch there is found before any tensor is read.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ConfigReport } from '../../shared/report';

type JsonObject = Record<string, unknown>;

/**
 * Keys that fix the shapes of the layers, each with the other spellings architectures use for it
 * (GPT-2 and Phi-1 configs say n_embd, n_layer, n_head, n_inner; T5-style configs say d_model, d_ff).
 */
const STRUCTURAL_KEYS: ReadonlyArray<{ key: string; aliases: readonly string[] }> = [
  { key: 'hidden_size', aliases: ['hidden_size', 'n_embd', 'd_model'] },
  { key: 'num_hidden_layers', aliases: ['num_hidden_layers', 'n_layer', 'num_layers'] },
  { key: 'num_attention_heads', aliases: ['num_attention_heads', 'n_head', 'num_heads'] },
  { key: 'num_key_value_heads', aliases: ['num_key_value_heads', 'num_kv_heads', 'multi_query_group_num'] },
  { key: 'intermediate_size', aliases: ['intermediate_size', 'n_inner', 'ffn_dim', 'd_ff'] },
];

/** Compares two parsed config.json objects; null or undefined means the file is missing. */
export function diffConfigs(a: JsonObject | null | undefined, b: JsonObject | null | undefined): ConfigReport {
  if (!a || !b) {
    const missing = [!a ? 'A' : null, !b ? 'B' : null].filter((side) => side !== null).join(' and ');
    return {
      changed: [],
      verdict: 'unknown',
      reasons: [`config.json is missing on side ${missing}, so the architectures cannot be compared`],
    };
  }
  const changed: ConfigReport['changed'] = [];
  collectChanges('', a, b, changed);
  const reasons: string[] = [];
  const refusals: string[] = [];
  const refuse = (reason: string): void => {
    refusals.push(reason);
    reasons.push(reason);
  };

  const typeA = a['model_type'];
  const typeB = b['model_type'];
  if (typeA !== undefined && typeB !== undefined && typeA !== typeB) {
    refuse(`model_type differs: ${JSON.stringify(typeA)} vs ${JSON.stringify(typeB)}`);
  }
  const familiesA = architectureFamilies(a);
  const familiesB = architectureFamilies(b);
  if (familiesA.length > 0 && familiesB.length > 0 && !familiesA.some((family) => familiesB.includes(family))) {
    refuse(`architectures belong to different families: ${familiesA.join(', ')} vs ${familiesB.join(', ')}`);
  }
  for (const { key, aliases } of STRUCTURAL_KEYS) {
    const valueA = structuralValue(a, key, aliases);
    const valueB = structuralValue(b, key, aliases);
    if (valueA !== undefined && valueB !== undefined && !isDeepStrictEqual(valueA, valueB)) {
      refuse(`${key} differs: ${JSON.stringify(valueA)} vs ${JSON.stringify(valueB)}`);
    }
  }
  const vocabA = numberAt(a, 'vocab_size');
  const vocabB = numberAt(b, 'vocab_size');
  if (vocabA !== undefined && vocabB !== undefined) {
    if (vocabB < vocabA) {
      refuse(`vocab_size shrinks from ${vocabA} to ${vocabB}; rows of A would have to be dropped`);
    } else if (vocabB > vocabA) {
      reasons.push(`vocab_size grows from ${vocabA} to ${vocabB}; the new embedding rows are taken whole from B`);
    }
  }
  return { changed, verdict: refusals.length > 0 ? 'incompatible' : 'compatible', reasons, refusals };
}

/** `MistralForCausalLM` and `MistralForSequenceClassification` are one family: the part before `For`. */
export function architectureFamilies(config: JsonObject): string[] {
  const architectures = config['architectures'];
  if (!Array.isArray(architectures)) return [];
  return architectures
    .filter((name): name is string => typeof name === 'string')
    .map((name) => name.replace(/For[A-Z]\w*$/, '').replace(/(Model|LMHeadModel)$/, ''));
}

/**
 * Multimodal configs keep the language model's keys under `text_config`; those are the ones that
 * decide the shapes of the layers a residual touches. A missing num_key_value_heads means one
 * key-value head per attention head (plain multi-head attention).
 */
function structuralValue(config: JsonObject, key: string, aliases: readonly string[]): unknown {
  const text = isObject(config['text_config']) ? config['text_config'] : undefined;
  for (const source of [config, text]) {
    if (!source) continue;
    for (const alias of aliases) {
      if (source[alias] !== undefined && source[alias] !== null) return source[alias];
    }
  }
  if (key === 'num_key_value_heads') {
    return structuralValue(config, 'num_attention_heads', ['num_attention_heads', 'n_head', 'num_heads']);
  }
  return undefined;
}

function numberAt(config: JsonObject, key: string): number | undefined {
  const direct = config[key];
  if (typeof direct === 'number') return direct;
  const text = config['text_config'];
  const nested = isObject(text) ? text[key] : undefined;
  return typeof nested === 'number' ? nested : undefined;
}

/** Objects are compared key by key (dotted paths); arrays and scalars are compared whole. */
function collectChanges(prefix: string, a: unknown, b: unknown, out: ConfigReport['changed']): void {
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) collectChanges(prefix ? `${prefix}.${key}` : key, a[key], b[key], out);
    return;
  }
  if (!isDeepStrictEqual(a, b)) out.push({ key: prefix, a: a === undefined ? null : a, b: b === undefined ? null : b });
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
