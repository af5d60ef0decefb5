/**
 * The arguments of the extension's commands, validated in one place. A command gets nothing from the
 * palette, a Uri (and the selection) from an Explorer context menu, a tree item from the Checkpoints
 * view, and an options object from tests, the report panel, hover links and other extensions. Each
 * shape has one parser here: it keeps the fields the command knows, with their types checked, and
 * refuses anything else with a CommandArgumentError that names the field, instead of ignoring it and
 * prompting. Imports `vscode` for types only, so it is unit-tested without VS Code.
 */
import type * as vscode from 'vscode';
import { MAX_LORA_RANK } from '../shared/defaults';
import { RESIDUAL_DTYPES, type ResidualDtype } from '../shared/jobs';

/** An argument a command cannot take; the command shows it once and resolves to undefined. */
export class CommandArgumentError extends Error {
  override readonly name = 'CommandArgumentError';
}

export interface ComputeArgs { base?: string; instruct?: string; out?: string; dtype?: ResidualDtype }
export interface ApplyArgs { base?: string; residual?: string; out?: string; scale?: number; include?: string; exclude?: string }
/** `spectra` overrides the checkpointSurgeon.diff.spectra setting for this call; `select` selects a tensor in the report. */
export interface CompareArgs { a?: string; b?: string; select?: string; spectra?: boolean }
export interface InspectArgs { path?: string }
export interface VerifyArgs { base?: string; residual?: string; instruct?: string }
export interface CardArgs { dir?: string }
export interface OpenReportArgs { id?: string }
/**
 * The residual to export: a residual folder, or base and instruct (R = instruct - base on the fly). `rank` is one
 * rank for every matrix; `energy` (a share, 0.95 is 95%) chooses each matrix's rank, capped at DEFAULT_LORA_MAX_RANK.
 */
export interface LoraArgs { residual?: string; base?: string; instruct?: string; rank?: number; energy?: number; out?: string }
/** `private` defaults to true: a repo the push creates is private. */
export interface PushArgs { dir?: string; repo?: string; private?: boolean }
/** An empty token removes the stored one. */
export interface HubTokenArgs { token?: string }

/** What a field accepts. `text` and `secret` take any string, `text` treating '' as absent. */
type FieldKind = 'path' | 'text' | 'secret' | 'number' | 'boolean' | readonly string[];
type Fields<T> = { [K in keyof Required<T>]: FieldKind };

const COMPUTE_FIELDS: Fields<ComputeArgs> = { base: 'path', instruct: 'path', out: 'path', dtype: RESIDUAL_DTYPES };
const APPLY_FIELDS: Fields<ApplyArgs> = { base: 'path', residual: 'path', out: 'path', scale: 'number', include: 'text', exclude: 'text' };
const COMPARE_FIELDS: Fields<CompareArgs> = { a: 'path', b: 'path', select: 'path', spectra: 'boolean' };
const INSPECT_FIELDS: Fields<InspectArgs> = { path: 'path' };
const VERIFY_FIELDS: Fields<VerifyArgs> = { base: 'path', residual: 'path', instruct: 'path' };
const CARD_FIELDS: Fields<CardArgs> = { dir: 'path' };
const LORA_FIELDS: Fields<LoraArgs> = { residual: 'path', base: 'path', instruct: 'path', rank: 'number', energy: 'number', out: 'path' };
const OPEN_REPORT_FIELDS: Fields<OpenReportArgs> = { id: 'path' };
const PUSH_FIELDS: Fields<PushArgs> = { dir: 'path', repo: 'path', private: 'boolean' };
const HUB_TOKEN_FIELDS: Fields<HubTokenArgs> = { token: 'secret' };

/** A `vscode.Uri`, recognised by shape (this file does not load `vscode`). */
export type UriLike = Pick<vscode.Uri, 'scheme' | 'fsPath'>;

export function isUriLike(value: unknown): value is UriLike {
  if (typeof value !== 'object' || value === null) return false;
  const uri = value as Partial<Record<'scheme' | 'fsPath', unknown>>;
  return typeof uri.scheme === 'string' && typeof uri.fsPath === 'string';
}

export function parseComputeArgs(raw: unknown): ComputeArgs {
  return parseObject('Compute Residual', raw, COMPUTE_FIELDS);
}

export function parseApplyArgs(raw: unknown): ApplyArgs {
  return parseObject('Apply Residual', raw, APPLY_FIELDS);
}

export function parseCompareArgs(raw: unknown): CompareArgs {
  return parseObject('Compare', raw, COMPARE_FIELDS);
}

/** An options object, or the Uri of the checkpoint (an editor or Explorer menu). */
export function parseInspectArgs(raw: unknown): InspectArgs {
  return isUriLike(raw) ? { path: localPath('Inspect', raw) } : parseObject('Inspect', raw, INSPECT_FIELDS);
}

/** An options object, or the Uri of the residual folder (the Explorer's menu). */
export function parseVerifyArgs(raw: unknown): VerifyArgs {
  return isUriLike(raw) ? { residual: localPath('Verify', raw) } : parseObject('Verify', raw, VERIFY_FIELDS);
}

/** An options object, or the Uri of the folder. */
export function parseCardArgs(raw: unknown): CardArgs {
  return isUriLike(raw) ? { dir: localPath('Write Model Card', raw) } : parseObject('Write Model Card', raw, CARD_FIELDS);
}

/** An options object, or the Uri of the residual folder (the Explorer's menu); one source and one way to choose ranks. */
export function parseLoraArgs(raw: unknown): LoraArgs {
  const command = 'Export as LoRA Adapter';
  const args = isUriLike(raw) ? { residual: localPath(command, raw) } : parseObject<LoraArgs>(command, raw, LORA_FIELDS);
  if (args.residual !== undefined && (args.base !== undefined || args.instruct !== undefined)) {
    throw new CommandArgumentError(`${command}: give "residual" alone, or "base" and "instruct", not both.`);
  }
  if (args.rank !== undefined && args.energy !== undefined) {
    throw new CommandArgumentError(`${command}: give "rank" (one rank for every matrix) or "energy" (a rank per matrix), not both.`);
  }
  if (args.rank !== undefined && (!Number.isInteger(args.rank) || args.rank < 1 || args.rank > MAX_LORA_RANK)) {
    throw new CommandArgumentError(`${command}: "rank" must be a whole number from 1 to ${MAX_LORA_RANK}, not ${args.rank}.`);
  }
  if (args.energy !== undefined && !(args.energy > 0 && args.energy <= 1)) {
    throw new CommandArgumentError(`${command}: "energy" must be a share above 0 and at most 1 (0.95 is 95%), not ${args.energy}.`);
  }
  return args;
}

export function parseOpenReportArgs(raw: unknown): OpenReportArgs {
  return parseObject('Open Report', raw, OPEN_REPORT_FIELDS);
}

/** An options object, or the Uri of the folder to push. */
export function parsePushArgs(raw: unknown): PushArgs {
  return isUriLike(raw) ? { dir: localPath('Push to Hub', raw) } : parseObject('Push to Hub', raw, PUSH_FIELDS);
}

export function parseHubTokenArgs(raw: unknown): HubTokenArgs {
  return parseObject('Set Hub Token', raw, HUB_TOKEN_FIELDS);
}

/** The resource an Explorer context-menu command was run on. */
export function parseExplorerTarget(command: string, uri: unknown): string {
  if (!isUriLike(uri)) throw new CommandArgumentError(`${command} runs from the Explorer's context menu on a checkpoint folder or .safetensors file.`);
  return localPath(command, uri);
}

/** The two resources selected in the Explorer (VS Code passes the clicked one and the whole selection). */
export function parseExplorerPair(command: string, uri: unknown, selection: unknown): [string, string] {
  const uris = selection === undefined || selection === null ? [uri] : selection;
  if (!Array.isArray(uris) || !uris.every(isUriLike)) {
    throw new CommandArgumentError(`${command} runs from the Explorer's context menu on two selected checkpoints.`);
  }
  const paths = [...new Set(uris.map((u) => localPath(command, u)))];
  if (paths.length !== 2 || paths[0] === undefined || paths[1] === undefined) {
    throw new CommandArgumentError('Select exactly two checkpoints in the Explorer.');
  }
  return [paths[0], paths[1]];
}

/** The path of the Checkpoints view's item a context-menu command was run on. */
export function parseCheckpointItem(command: string, node: unknown): string {
  const item = typeof node === 'object' && node !== null ? node as Record<string, unknown> : {};
  if (item['kind'] !== 'checkpoint' || typeof item['path'] !== 'string' || item['path'] === '') {
    throw new CommandArgumentError(`${command}: pick a checkpoint in the Checkpoints view.`);
  }
  return item['path'];
}

function localPath(command: string, uri: UriLike): string {
  if (uri.scheme !== 'file') throw new CommandArgumentError(`${command} reads local files only, not ${uri.scheme}: resources.`);
  return uri.fsPath;
}

/** Nothing (the palette) is an empty object; an object keeps its known fields once their types check. */
function parseObject<T>(command: string, raw: unknown, fields: Fields<T>): T {
  if (raw === undefined || raw === null) return {} as T;
  if (typeof raw !== 'object' || Array.isArray(raw) || isUriLike(raw)) {
    throw new CommandArgumentError(`${command} takes an options object (${describeFields(fields)}), not ${describeValue(raw)}.`);
  }
  const parsed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const kind = (fields as Record<string, FieldKind | undefined>)[key];
    if (kind === undefined) throw new CommandArgumentError(`${command} has no option "${key}"; it takes ${describeFields(fields)}.`);
    if (value === undefined) continue;
    const checked = checkField(command, key, kind, value);
    if (checked !== undefined) parsed[key] = checked;
  }
  return parsed as T;
}

function checkField(command: string, key: string, kind: FieldKind, value: unknown): unknown {
  const refuse = (what: string): never => {
    throw new CommandArgumentError(`${command}: "${key}" must be ${what}, not ${describeValue(value)}.`);
  };
  if (typeof kind !== 'string') {
    return typeof value === 'string' && kind.includes(value) ? value : refuse(`one of ${kind.join(', ')}`);
  }
  switch (kind) {
    case 'path': return typeof value === 'string' && value !== '' ? value : refuse('a non-empty string');
    case 'text': return typeof value === 'string' ? (value === '' ? undefined : value) : refuse('a string');
    case 'secret': return typeof value === 'string' ? value : refuse('a string');
    case 'number': return typeof value === 'number' && Number.isFinite(value) ? value : refuse('a finite number');
    case 'boolean': return typeof value === 'boolean' ? value : refuse('true or false');
  }
}

function describeFields(fields: object): string {
  return Object.keys(fields).join(', ');
}

/** A short description of a refused value; a string's content is left out (it may be a token). */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'that string';
  if (typeof value === 'number') return String(value);
  if (isUriLike(value)) return 'a resource';
  return `a ${typeof value}`;
}
