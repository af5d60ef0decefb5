/**
 * Tokenizer side files of a checkpoint and the differences between two of them: vocabulary
 * size, added and special tokens, the chat template, and the pipeline settings of tokenizer.json.
 * Nothing here reads tensor data, so a diff is ready before any weights are streamed.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { diffLines } from 'diff';
import type { AddedToken, LineDiffEntry, TokenizerReport } from '../../shared/report';
import { SurgeonError } from '../errors';
import { describeLfsPointer, looksLikeLfsPointer, parseLfsPointer } from '../format/lfs-pointer';
import { parseStrictJson } from '../format/strict-json';

export type JsonObject = Record<string, unknown>;

/** The side files a tokenizer is made of; null where the file is absent. */
export interface TokenizerFiles {
  dir: string;
  /** tokenizer.json (the fast tokenizer), parsed once; it can be 2-20 MB. */
  tokenizer: JsonObject | null;
  tokenizerConfig: JsonObject | null;
  specialTokensMap: JsonObject | null;
  generationConfig: JsonObject | null;
  /** chat_template.jinja, which recent transformers versions write instead of the tokenizer_config key. */
  chatTemplateFile: string | null;
}

const TOKENIZER_FILE_NAMES = {
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  specialTokensMap: 'special_tokens_map.json',
  generationConfig: 'generation_config.json',
  chatTemplateFile: 'chat_template.jinja',
} as const;

/** The token roles transformers keeps in special_tokens_map.json and tokenizer_config.json. */
const SPECIAL_TOKEN_KEYS = [
  'bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token',
  'additional_special_tokens',
] as const;

/** Token ids in generation_config.json that decide when generation starts, pads and stops. */
const GENERATION_TOKEN_KEYS = ['bos_token_id', 'eos_token_id', 'pad_token_id', 'decoder_start_token_id'] as const;

/** Sections of tokenizer.json that change how text becomes ids (compared whole). */
const TOKENIZER_PIPELINE_KEYS = ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'truncation', 'padding'] as const;

/**
 * Edit distance (in lines) past which the chat-template diff gives up aligning and shows the whole
 * of A removed and the whole of B added. Real templates are a few hundred lines at most; the bound
 * keeps a pathological pair from stalling the report, since the diff costs O(lines x edits).
 */
const MAX_CHAT_TEMPLATE_EDIT_LENGTH = 2_000;

/** Reads the tokenizer side files of a folder. Absent files are null; unreadable or malformed ones are refused. */
export async function loadTokenizerFiles(dir: string): Promise<TokenizerFiles> {
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new SurgeonError('io', 'expected a folder holding tokenizer files', dir);
  } catch (error) {
    if (error instanceof SurgeonError) throw error;
    throw new SurgeonError('io', `cannot read the folder: ${describeError(error)}`, dir);
  }
  const [tokenizer, tokenizerConfig, specialTokensMap, generationConfig, chatTemplateFile] = await Promise.all([
    readJsonObject(join(dir, TOKENIZER_FILE_NAMES.tokenizer)),
    readJsonObject(join(dir, TOKENIZER_FILE_NAMES.tokenizerConfig)),
    readJsonObject(join(dir, TOKENIZER_FILE_NAMES.specialTokensMap)),
    readJsonObject(join(dir, TOKENIZER_FILE_NAMES.generationConfig)),
    readText(join(dir, TOKENIZER_FILE_NAMES.chatTemplateFile)),
  ]);
  return { dir, tokenizer, tokenizerConfig, specialTokensMap, generationConfig, chatTemplateFile };
}

/** Compares the tokenizers of A and B; every list is sorted so that reports are stable. */
export function diffTokenizers(a: TokenizerFiles, b: TokenizerFiles): TokenizerReport {
  const addedA = addedTokensById(a);
  const addedB = addedTokensById(b);
  const templateA = chatTemplateText(a);
  const templateB = chatTemplateText(b);
  const templateChanged = templateA !== templateB;
  return {
    vocabSize: { a: vocabularySize(a), b: vocabularySize(b) },
    addedTokens: compareAddedTokens(addedA, addedB),
    specialTokens: compareSpecialTokens(a, b),
    chatTemplate: {
      a: templateA !== null,
      b: templateB !== null,
      changed: templateChanged,
      diff: templateChanged ? diffTemplateLines(templateA ?? '', templateB ?? '') : [],
    },
    changes: compareSettings(a, b),
    merges: { a: mergesCount(a), b: mergesCount(b) },
  };
}

/**
 * The tokens of ids fromId (inclusive) to toId (exclusive), where the tokenizer names them: used to
 * say which tokens the new rows of a grown embedding stand for.
 */
export function addedTokenNames(files: TokenizerFiles, fromId: number, toId: number): Array<{ id: number; content: string }> {
  const names = new Map<number, string>();
  const model = objectAt(files.tokenizer, 'model');
  const vocab = model?.['vocab'];
  if (Array.isArray(vocab)) {
    // Unigram vocabularies are [token, score] pairs whose position is the id.
    for (let id = Math.max(0, fromId); id < Math.min(toId, vocab.length); id++) {
      const entry: unknown = vocab[id];
      if (Array.isArray(entry) && typeof entry[0] === 'string') names.set(id, entry[0]);
    }
  } else if (isObject(vocab)) {
    for (const [content, id] of Object.entries(vocab)) {
      if (typeof id === 'number' && id >= fromId && id < toId) names.set(id, content);
    }
  }
  for (const token of addedTokensById(files).values()) {
    if (token.id >= fromId && token.id < toId) names.set(token.id, token.content);
  }
  return [...names.entries()].sort(([x], [y]) => x - y).map(([id, content]) => ({ id, content }));
}

/** The figures `inspect` shows for one tokenizer. */
export function summarizeTokenizer(files: TokenizerFiles): { vocabSize: number | null; addedTokens: number; hasChatTemplate: boolean } {
  return {
    vocabSize: vocabularySize(files),
    addedTokens: addedTokensById(files).size,
    hasChatTemplate: chatTemplateText(files) !== null,
  };
}

/** Size of the model vocabulary plus the added tokens that are not in it (what `len(tokenizer)` returns). */
function vocabularySize(files: TokenizerFiles): number | null {
  const vocab = objectAt(files.tokenizer, 'model')?.['vocab'];
  let contents: Set<string>;
  if (Array.isArray(vocab)) {
    contents = new Set(vocab.map((entry: unknown) => (Array.isArray(entry) ? String(entry[0]) : '')));
    contents.delete('');
  } else if (isObject(vocab)) {
    contents = new Set(Object.keys(vocab));
  } else {
    return null;
  }
  const base = Array.isArray(vocab) ? vocab.length : contents.size;
  let extra = 0;
  for (const token of addedTokensById(files).values()) {
    if (!contents.has(token.content)) extra++;
  }
  return base + extra;
}

/** Added tokens by id: tokenizer_config's added_tokens_decoder, overridden by tokenizer.json's added_tokens. */
function addedTokensById(files: TokenizerFiles): Map<number, AddedToken> {
  const tokens = new Map<number, AddedToken>();
  const decoder = objectAt(files.tokenizerConfig, 'added_tokens_decoder');
  if (decoder) {
    for (const [key, entry] of Object.entries(decoder)) {
      const id = Number(key);
      if (Number.isInteger(id) && isObject(entry) && typeof entry['content'] === 'string') {
        tokens.set(id, { id, content: entry['content'], special: entry['special'] === true });
      }
    }
  }
  const list = files.tokenizer?.['added_tokens'];
  if (Array.isArray(list)) {
    for (const entry of list) {
      if (isObject(entry) && typeof entry['id'] === 'number' && typeof entry['content'] === 'string') {
        tokens.set(entry['id'], { id: entry['id'], content: entry['content'], special: entry['special'] === true });
      }
    }
  }
  return tokens;
}

/** The chat template as text: chat_template.jinja first, then tokenizer_config's `chat_template`. */
function chatTemplateText(files: TokenizerFiles): string | null {
  if (files.chatTemplateFile !== null) return files.chatTemplateFile;
  const template = files.tokenizerConfig?.['chat_template'];
  if (typeof template === 'string') return template;
  if (Array.isArray(template)) {
    // Several named templates (`default`, `tool_use`, ...): shown one after the other under their names.
    const parts = template
      .filter(isObject)
      .map((entry) => `{# template: ${String(entry['name'])} #}\n${String(entry['template'])}`);
    return parts.length > 0 ? parts.join('\n') : null;
  }
  return null;
}

function compareAddedTokens(a: Map<number, AddedToken>, b: Map<number, AddedToken>): TokenizerReport['addedTokens'] {
  const onlyInA: AddedToken[] = [];
  const onlyInB: AddedToken[] = [];
  const changed: Array<{ id: number; a: AddedToken; b: AddedToken }> = [];
  for (const [id, tokenA] of a) {
    const tokenB = b.get(id);
    if (tokenB === undefined) onlyInA.push(tokenA);
    else if (tokenA.content !== tokenB.content || tokenA.special !== tokenB.special) changed.push({ id, a: tokenA, b: tokenB });
  }
  for (const [id, tokenB] of b) {
    if (!a.has(id)) onlyInB.push(tokenB);
  }
  const byId = (x: { id: number }, y: { id: number }): number => x.id - y.id;
  return { onlyInA: onlyInA.sort(byId), onlyInB: onlyInB.sort(byId), changed: changed.sort(byId) };
}

function compareSpecialTokens(a: TokenizerFiles, b: TokenizerFiles): TokenizerReport['specialTokens'] {
  const changes: TokenizerReport['specialTokens'] = [];
  const sources = [
    ['special_tokens_map', a.specialTokensMap, b.specialTokensMap],
    ['tokenizer_config', a.tokenizerConfig, b.tokenizerConfig],
  ] as const;
  for (const [source, objectA, objectB] of sources) {
    for (const key of SPECIAL_TOKEN_KEYS) {
      pushIfDifferent(changes, `${source}.${key}`, objectA?.[key], objectB?.[key]);
    }
  }
  for (const key of GENERATION_TOKEN_KEYS) {
    const normalize = key === 'eos_token_id' ? asIdList : (value: unknown) => value;
    pushIfDifferent(
      changes,
      `generation_config.${key}`,
      normalize(a.generationConfig?.[key]),
      normalize(b.generationConfig?.[key]),
    );
  }
  return changes;
}

function compareSettings(a: TokenizerFiles, b: TokenizerFiles): TokenizerReport['changes'] {
  const changes: TokenizerReport['changes'] = [];
  for (const key of TOKENIZER_PIPELINE_KEYS) {
    pushIfDifferent(changes, key, a.tokenizer?.[key], b.tokenizer?.[key]);
  }
  const modelA = objectAt(a.tokenizer, 'model');
  const modelB = objectAt(b.tokenizer, 'model');
  // The vocabulary and merges are summarised by size elsewhere; every other model field is a setting.
  for (const key of unionKeys(modelA, modelB)) {
    if (key !== 'vocab' && key !== 'merges') pushIfDifferent(changes, `model.${key}`, modelA?.[key], modelB?.[key]);
  }
  const handledElsewhere = new Set<string>(['added_tokens_decoder', 'chat_template', ...SPECIAL_TOKEN_KEYS]);
  for (const key of unionKeys(a.tokenizerConfig, b.tokenizerConfig)) {
    if (!handledElsewhere.has(key)) {
      pushIfDifferent(changes, `tokenizer_config.${key}`, a.tokenizerConfig?.[key], b.tokenizerConfig?.[key]);
    }
  }
  return changes;
}

function diffTemplateLines(a: string, b: string): LineDiffEntry[] {
  const parts = diffLines(a, b, { maxEditLength: MAX_CHAT_TEMPLATE_EDIT_LENGTH });
  if (parts === undefined) {
    return [
      ...splitLines(a).map((text): LineDiffEntry => ({ op: 'removed', text })),
      ...splitLines(b).map((text): LineDiffEntry => ({ op: 'added', text })),
    ];
  }
  const entries: LineDiffEntry[] = [];
  for (const part of parts) {
    const op: LineDiffEntry['op'] = part.added ? 'added' : part.removed ? 'removed' : 'same';
    for (const text of splitLines(part.value)) entries.push({ op, text });
  }
  return entries;
}

function mergesCount(files: TokenizerFiles): number | null {
  const merges = objectAt(files.tokenizer, 'model')?.['merges'];
  return Array.isArray(merges) ? merges.length : null;
}

/** Absent and null mean the same to transformers, so both are reported as null. */
function pushIfDifferent(list: Array<{ key: string; a: unknown; b: unknown }>, key: string, a: unknown, b: unknown): void {
  const valueA = a === undefined ? null : a;
  const valueB = b === undefined ? null : b;
  if (!isDeepStrictEqual(valueA, valueB)) list.push({ key, a: valueA, b: valueB });
}

function asIdList(value: unknown): unknown {
  return typeof value === 'number' ? [value] : value;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

function unionKeys(a: JsonObject | null | undefined, b: JsonObject | null | undefined): string[] {
  return [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].sort();
}

function objectAt(object: JsonObject | null | undefined, key: string): JsonObject | undefined {
  const value = object?.[key];
  return isObject(value) ? value : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readBytes(path: string): Promise<Uint8Array | null> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new SurgeonError('io', `cannot read the file: ${describeError(error)}`, path);
  }
}

async function readText(path: string): Promise<string | null> {
  const bytes = await readBytes(path);
  if (bytes === null) return null;
  refuseLfsPointer(bytes, path);
  try {
    return stripByteOrderMark(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new SurgeonError('invalid-json', 'the file is not valid UTF-8 text', path);
  }
}

async function readJsonObject(path: string): Promise<JsonObject | null> {
  const text = await readText(path);
  if (text === null) return null;
  const value = parseStrictJson(text, path);
  if (!isObject(value)) throw new SurgeonError('invalid-json', 'expected a JSON object at the top level', path);
  return value;
}

function refuseLfsPointer(bytes: Uint8Array, path: string): void {
  if (looksLikeLfsPointer(bytes)) {
    throw new SurgeonError('lfs-pointer', describeLfsPointer(parseLfsPointer(bytes) ?? {}), path);
  }
}

/** Some editors on Windows save JSON with a byte-order mark, which JSON itself does not allow. */
function stripByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
