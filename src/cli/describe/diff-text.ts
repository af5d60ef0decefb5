import type { DiffResult } from '../../shared/jobs';
import type { AddedToken, DiffReport, TokenizerReport } from '../../shared/report';
import { TENSOR_STATUSES } from '../../shared/report';
import { formatCount, formatFirstOf, formatShape, formatStatistic } from '../../shared/quantities';
import { reportQuantizationLines } from '../../shared/quantization-text';
import { countOf, textTable } from '../text-table';

/** Matrices `diff --spectra` lists by default, largest delta first; `--top 0` lists all. */
export const DEFAULT_SPECTRA_TOP = 20;
/** A config or tokenizer value longer than this is cut, with an ellipsis. */
const VALUE_WIDTH = 60;
/** Tokens named in a list before "and N more". */
const TOKENS_LISTED = 8;

export interface DiffTextOptions {
  /** Spectra rows to print; 0 prints every matrix. */
  top: number;
}

/** What `diff` prints: tensor counts, FP8 sides, the most changed tensors, then config, tokenizer and spectra changes. */
export function describeDiff(result: DiffResult, options: DiffTextOptions): string[] {
  const { summary, tokenizer, config } = result.report;
  const counts = TENSOR_STATUSES.filter((status) => summary.counts[status] > 0)
    .map((status) => `${formatCount(summary.counts[status])} ${status}`).join(', ');
  const mismatched = result.report.tensors.filter((tensor) => tensor.status === 'shape-mismatch');
  return [
    `${countOf(result.report.tensors.length, 'tensor')}: ${counts || 'none'}; global relative norm ${formatStatistic(summary.globalRelativeNorm)}.`,
    // Weights that are not there (Git LFS pointers, shards not downloaded) say why the table has no statistics.
    ...(result.issues ?? []).filter((issue) => issue.severity !== 'info').map((issue) => `  ${issue.severity}: ${issue.message}`),
    // FP8 sides: the statistics are of their dequantized weights.
    ...reportQuantizationLines(result.report).map((line) => `  ${line}`),
    ...(summary.mostChanged.length > 0
      ? ['', ...textTable([{ header: 'relative norm', align: 'right' }, { header: 'most changed tensor' }],
        summary.mostChanged.map((tensor) => [formatStatistic(tensor.relativeNorm), tensor.name]))]
      : []),
    ...(mismatched.length > 0
      ? ['', ...textTable([{ header: 'shape mismatch' }, { header: 'A', align: 'right' }, { header: 'B', align: 'right' }, { header: 'resolution' }],
        mismatched.map((tensor) => [tensor.name, formatShape(tensor.a?.shape), formatShape(tensor.b?.shape), tensor.resolution ?? '']))]
      : []),
    ...(config ? ['', ...configLines(config)] : []),
    ...(tokenizer ? ['', ...tokenizerLines(tokenizer)] : []),
    ...spectraLines(result.report, options.top),
  ];
}

function configLines(config: NonNullable<DiffReport['config']>): string[] {
  return [
    `config: ${config.verdict}${config.reasons.length > 0 ? ` (${config.reasons.join('; ')})` : ''}`
      + `${config.changed.length === 0 ? ', no key changed' : ''}`,
    ...(config.changed.length > 0 ? changeTable('config key', config.changed) : []),
  ];
}

/**
 * The tokenizer changes spelled out: vocabulary, tokens added and removed, special tokens whose id
 * moved, the legacy flip, normalizer and pre-tokenizer changes, the chat template.
 */
function tokenizerLines(tokenizer: TokenizerReport): string[] {
  const { vocabSize, addedTokens, chatTemplate } = tokenizer;
  const lines: string[] = [];
  const vocabulary = vocabSize.a === null && vocabSize.b === null ? 'vocabulary size unknown'
    : vocabSize.a === vocabSize.b ? `vocabulary ${formatCount(vocabSize.a!)} in both`
      : `vocabulary ${vocabSize.a === null ? 'unknown' : formatCount(vocabSize.a)} -> ${vocabSize.b === null ? 'unknown' : formatCount(vocabSize.b)}`;
  const template = chatTemplate.a === chatTemplate.b ? (chatTemplate.changed ? 'chat template changed' : chatTemplate.a ? 'same chat template' : 'no chat template')
    : chatTemplate.b ? 'chat template added' : 'chat template removed';
  lines.push(`tokenizer: ${vocabulary}; ${template}`);
  const contentsInA = new Map(addedTokens.onlyInA.map((token) => [token.content, token]));
  const moved = addedTokens.onlyInB.filter((token) => contentsInA.has(token.content));
  const added = addedTokens.onlyInB.filter((token) => !contentsInA.has(token.content));
  const removed = addedTokens.onlyInA.filter((token) => !moved.some((other) => other.content === token.content));
  if (added.length > 0) lines.push(`  ${countOf(added.length, 'token')} added: ${tokenList(added)}`);
  if (removed.length > 0) lines.push(`  ${countOf(removed.length, 'token')} removed: ${tokenList(removed)}`);
  for (const token of moved) lines.push(`  ${JSON.stringify(token.content)} moved from id ${contentsInA.get(token.content)!.id} to ${token.id}`);
  for (const change of addedTokens.changed) lines.push(`  id ${change.id} changed from ${JSON.stringify(change.a.content)} to ${JSON.stringify(change.b.content)}`);
  const legacy = tokenizer.changes.find((change) => change.key === 'tokenizer_config.legacy');
  if (legacy) lines.push(`  legacy flipped: ${valueText(legacy.a)} -> ${valueText(legacy.b)} (how SentencePiece spaces are handled after special tokens)`);
  const settings = tokenizer.changes.filter((change) => change !== legacy);
  const changes = [...tokenizer.specialTokens, ...settings];
  if (changes.length > 0) lines.push(...changeTable('tokenizer setting', changes));
  return lines;
}

function changeTable(header: string, changes: ReadonlyArray<{ key: string; a: unknown; b: unknown }>): string[] {
  return textTable([{ header }, { header: 'A' }, { header: 'B' }], changes.map((change) => [change.key, valueText(change.a), valueText(change.b)]));
}

function tokenList(tokens: readonly AddedToken[]): string {
  return formatFirstOf(tokens.map((token) => `${JSON.stringify(token.content)} (${token.id})`), TOKENS_LISTED);
}

function valueText(value: unknown): string {
  const text = value === undefined ? '(absent)' : JSON.stringify(value);
  return text.length > VALUE_WIDTH ? `${text.slice(0, VALUE_WIDTH - 1)}…` : text;
}

/**
 * One row per matrix with a spectrum, largest delta first: effective rank and the share of the delta's
 * energy in its 8, 16 and 64 leading directions, and 256 where some matrix has it (--spectra-rank 256).
 */
function spectraLines(report: DiffReport, top: number): string[] {
  if (report.spectraProvider === undefined) return [];
  const matrices = report.tensors.filter((tensor) => tensor.spectra !== undefined)
    .sort((x, y) => y.spectra!.frobeniusNorm - x.spectra!.frobeniusNorm);
  const ranks: Array<8 | 16 | 64 | 256> = matrices.some((tensor) => tensor.spectra!.energyAtRank[256] !== null) ? [8, 16, 64, 256] : [8, 16, 64];
  const shown = top > 0 ? matrices.slice(0, top) : matrices;
  return [
    '',
    `${report.spectraProvider}: ${countOf(matrices.length, 'matrix', 'matrices')}, largest delta first`,
    ...textTable(
      [{ header: 'effective rank', align: 'right' }, ...ranks.map((rank) => ({ header: `energy@${rank}`, align: 'right' as const })), { header: 'matrix' }],
      shown.map((tensor) => [
        formatStatistic(tensor.spectra!.effectiveRank),
        ...ranks.map((rank) => shareText(tensor.spectra!.energyAtRank[rank])),
        tensor.name,
      ]),
    ),
    ...(shown.length < matrices.length ? [`  ... and ${matrices.length - shown.length} more (--top 0 lists all)`] : []),
  ];
}

function shareText(share: number | null): string {
  return share === null ? 'n/a' : `${(share * 100).toFixed(1)}%`;
}
