/**
 * README.md of a LoRA adapter made by `lora`: PEFT's model-card front matter (library_name peft, base_model), how
 * to load it, how much of the residual it carries and what it leaves out, per matrix.
 */
import { stringify } from 'yaml';
import { basename } from 'node:path';
import type { LoraLeftOut, LoraResult } from '../../shared/jobs';
import type { CheckpointRef } from '../../shared/report';
import { leftOutGroups } from '../../shared/lora-text';
import { formatBytes, formatCount, formatPercent, formatStatistic } from '../../shared/quantities';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import { cardPath, codeBlock, escapeMarkdown, hubRepo, pythonString, refName, shellQuote, table } from './model-card';

export interface LoraCardInput {
  result: LoraResult;
  /** The model the adapter is for (the residual's base). */
  base: CheckpointRef;
  /** Where the residual came from: the base and instruct models, or a residual folder. */
  sources: Array<{ role: 'instruct' | 'residual'; ref: CheckpointRef }>;
  createdAt: Date;
}

const LEFT_OUT_WORDS: Readonly<Record<LoraLeftOut['reason'], string>> = {
  'not-a-matrix': '1-D deltas (norms, biases) and tensors that are not matrices',
  embedding: 'embedding and head deltas (left out by default; `--embeddings lora` factors them)',
  'vocabulary-growth': 'grown vocabulary rows (an adapter cannot add token rows)',
  unchanged: 'unchanged matrices',
  'too-large': 'matrices too large for one SVD in memory',
  'not-float': 'tensors that are not floating point',
};

export function renderLoraCard({ result, base, sources, createdAt }: LoraCardInput): string {
  const output: CheckpointRef = { path: result.out };
  const front = {
    base_model: hubRepo(base) ?? cardPath(base, output),
    library_name: 'peft',
    tags: ['lora', 'instruction-residual', TOOL_NAME],
  };
  const yaml = stringify(front, { blockQuote: false, lineWidth: 0 });
  const baseName = refName(base, output);
  const ranks = new Set(result.matrices.map((matrix) => matrix.rank));
  const sections = [
    `# ${escapeMarkdown(basename(result.out))}`,
    [
      'A LoRA adapter of an instruction residual, R = θ_instruct − θ_base: each linear delta is factored by truncated SVD,',
      '',
      '    ΔW ≈ B @ A,   B = U_r √S_r,   A = √S_r V_rᵀ   (scaling 1: lora_alpha = r)',
      '',
      `- base: ${escapeMarkdown(baseName)}`,
      ...sources.map(({ role, ref }) => `- ${role}: ${escapeMarkdown(refName(ref, output))}`),
      `- ranks: ${escapeMarkdown(rankWords(result, ranks))}`,
      `- dtype: ${escapeMarkdown(result.dtype)}`,
    ].join('\n'),
    [
      '## How much of the residual it carries',
      '',
      table(['', ''], [
        ['energy carried (share of ‖R‖²_F)', formatPercent(result.capturedEnergyShare)],
        ['energy left out (1-D, embeddings, head, grown rows)', formatPercent(result.leftOutEnergyShare)],
        ['matrices factored', formatCount(result.matrices.length)],
        ['worst relative error ‖ΔW − BA‖_F / ‖ΔW‖_F', formatStatistic(Math.max(0, ...result.matrices.map((matrix) => matrix.relativeError)))],
        ['adapter size', `${formatBytes(result.adapterBytes)} (${formatPercent(result.fullResidualBytes > 0 ? result.adapterBytes / result.fullResidualBytes : null)} of the full residual's ${formatBytes(result.fullResidualBytes)})`],
      ]),
      ...leftOutLines(result.leftOut),
    ].join('\n'),
    howToLoad(baseName, output),
    ranks.size > 1
      ? '## Known limits\n\nThe ranks differ between modules (rank_pattern, alpha_pattern). PEFT and vLLM scale every module by 1; '
        + 'llama.cpp reads one lora_alpha and ignores alpha_pattern, so it scales modules whose rank is not r wrongly: for llama.cpp, '
        + 'export with one rank (`--rank N`).'
      : '',
    [
      '## Per matrix',
      '',
      table(['module', 'shape', 'rank', 'energy', 'relative error'], result.matrices.map((matrix) => [
        matrix.module, `${matrix.shape[0]} × ${matrix.shape[1]}`, String(matrix.rank), formatPercent(matrix.energy), formatStatistic(matrix.relativeError),
      ])),
    ].join('\n'),
    `Made by ${TOOL_NAME} ${TOOL_VERSION} on ${createdAt.toISOString()}; SVDs on ${escapeMarkdown(result.backend)}.`,
  ].filter((section) => section !== '');
  return `---\n${yaml}---\n\n${sections.join('\n\n')}\n`;
}

function rankWords(result: LoraResult, ranks: ReadonlySet<number>): string {
  const choice = result.ranks;
  const sorted = [...ranks].sort((x, y) => x - y);
  const range = sorted.length === 0 ? 'none' : sorted.length === 1 ? String(sorted[0]) : `${sorted[0]} to ${sorted.at(-1)}`;
  return 'rank' in choice
    ? `${range} (--rank ${choice.rank})`
    : `${range} (the smallest capturing ${formatPercent(choice.energy)} of each matrix's energy, at most ${choice.maxRank})`;
}

function leftOutLines(leftOut: readonly LoraLeftOut[]): string[] {
  const groups = leftOutGroups(leftOut);
  if (groups.length === 0) return [];
  return ['', 'Not in the adapter:', '', ...groups.map((group) =>
    `- ${LEFT_OUT_WORDS[group.reason]}: ${formatCount(group.tensors)} tensors, ${formatPercent(group.energyShare)} of the energy`)];
}

function howToLoad(baseName: string, output: CheckpointRef): string {
  const python = [
    'from peft import PeftModel',
    'from transformers import AutoModelForCausalLM',
    '',
    `model = AutoModelForCausalLM.from_pretrained(${pythonString(baseName)}, torch_dtype="auto")`,
    `model = PeftModel.from_pretrained(model, ${pythonString(basename(output.path))})`,
  ].join('\n');
  const cli = `${TOOL_NAME} apply --base ${shellQuote('path/to/your-continued-pretraining-checkpoint')} --residual ${shellQuote('.')} --out ${shellQuote('./merged')}`;
  return [
    '## How to load',
    '',
    'With PEFT:',
    '',
    codeBlock('python', python),
    '',
    `Merged into a checkpoint of the same family with ${TOOL_NAME} (W + α · (B @ A), in f32, one rounding):`,
    '',
    codeBlock('sh', cli),
  ].join('\n');
}
