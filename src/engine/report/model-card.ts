/**
 * README.md model cards for residual folders and for models a residual was applied to. Every name
 * and value that comes from a file or a user goes through an escaper: YAML is emitted by the `yaml`
 * serializer, Markdown text is escaped, and code blocks get fences and string literals that the
 * content cannot close.
 */
import { stringify } from 'yaml';
import { basename, isAbsolute, posix, relative, resolve, sep } from 'node:path';
import type { ApplyResult, ComputeResult, FileProvenance, VocabularyGrowth } from '../../shared/jobs';
import { TENSOR_STATUSES, type CheckpointRef, type DiffReport, type DiffSummary, type ReportQuantization, type TensorStatus, type TokenizerReport } from '../../shared/report';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import { formatCount, formatFirstOf } from '../../shared/quantities';
import { quantizationScheme } from '../../shared/quantization-text';

const MODEL_CARD_TAGS = ['instruction-residual', 'task-arithmetic'] as const;

/** Added tokens listed per grown tensor; the rest are counted, since a vocabulary can grow by 100k rows. */
const MAX_LISTED_ADDED_TOKENS = 20;

export interface ModelCardInput {
  /** A residual folder (R = instruct - base) or a model made by applying one (cpt + scale * R). */
  kind: 'residual' | 'applied';
  title: string;
  /** The folder (or Hub repository) this card describes, used in the usage examples. */
  output: CheckpointRef;
  /** For a residual, the base it was subtracted from; for an applied model, the continued-pretraining base. */
  base: CheckpointRef;
  /** For a residual: the instruct model. */
  instruct?: CheckpointRef;
  /** For an applied model: the residual that was added. */
  residual?: CheckpointRef;
  /** alpha of theta_new = theta_cpt + alpha * R; 1 for a residual. */
  scale: number;
  /** Stored dtype, e.g. `BF16` or `bfloat16`. */
  dtype: string;
  createdAt: Date;
  /** Defaults to this build's version. */
  toolVersion?: string;
  license?: string;
  language?: string[];
  pipelineTag?: string;
  /** Input files with their SHA-256, by role (`base`, `instruct`, `residual`). */
  provenance?: Partial<Record<'base' | 'instruct' | 'residual', FileProvenance[]>>;
  summary?: DiffSummary | null;
  tokenizer?: TokenizerReport | null;
  vocabularyGrowth?: VocabularyGrowth[];
  /** For a residual: which of its inputs were FP8 (A = base, B = instruct); R is the difference of their dequantized weights. */
  quantization?: DiffReport['quantization'];
  /** For an applied model whose residual was a LoRA adapter: how many modules were merged, at which ranks. */
  lora?: { modules: number; ranks: number[] };
}

/** Facts a card needs that no job result carries. */
export interface ModelCardExtras {
  title?: string;
  createdAt?: Date;
  license?: string;
  language?: string[];
  pipelineTag?: string;
}

/** The card of a residual folder, from what `compute` returned (its report has A = base, B = instruct). */
export function residualCardInput(result: ComputeResult, extras: ModelCardExtras = {}): ModelCardInput {
  return {
    ...extras,
    kind: 'residual',
    title: extras.title ?? basename(result.out),
    output: { path: result.out },
    base: result.report.a,
    ...(result.report.b ? { instruct: result.report.b } : {}),
    scale: 1,
    dtype: result.dtype,
    createdAt: extras.createdAt ?? new Date(),
    provenance: { base: result.provenance.base, instruct: result.provenance.instruct },
    summary: result.report.summary,
    tokenizer: result.report.tokenizer,
    vocabularyGrowth: result.vocabularyGrowth,
    ...(result.report.quantization ? { quantization: result.report.quantization } : {}),
  };
}

/**
 * The card of a model made by `apply`. ApplyResult does not repeat its inputs, so the caller passes
 * the base and residual it ran with, the output dtype, and the residual's own report when it has one.
 */
export function appliedCardInput(
  result: ApplyResult,
  inputs: { base: CheckpointRef; residual: CheckpointRef; dtype: string; report?: DiffReport },
  extras: ModelCardExtras = {},
): ModelCardInput {
  return {
    ...extras,
    kind: 'applied',
    title: extras.title ?? basename(result.out),
    output: { path: result.out },
    base: inputs.base,
    residual: inputs.residual,
    scale: result.scale,
    dtype: inputs.dtype,
    createdAt: extras.createdAt ?? new Date(),
    summary: inputs.report?.summary ?? null,
    tokenizer: inputs.report?.tokenizer ?? null,
    vocabularyGrowth: result.vocabularyGrowth,
    ...(result.lora ? { lora: { modules: result.lora.modules.length, ranks: [...new Set(result.lora.modules.map((module) => module.rank))].sort((x, y) => x - y) } } : {}),
  };
}

export interface ModelCardFrontMatter {
  base_model: string;
  base_model_relation: 'adapter' | 'merge';
  library_name: string;
  license?: string;
  language?: string[];
  pipeline_tag?: string;
  tags: string[];
}

export function modelCardFrontMatter(input: ModelCardInput): ModelCardFrontMatter {
  const front: ModelCardFrontMatter = {
    base_model: hubRepo(input.base) ?? cardPath(input.base, input.output),
    base_model_relation: input.kind === 'residual' ? 'adapter' : 'merge',
    library_name: TOOL_NAME,
    tags: [...MODEL_CARD_TAGS],
  };
  if (input.license !== undefined) front.license = input.license;
  if (input.language !== undefined && input.language.length > 0) front.language = [...input.language];
  if (input.pipelineTag !== undefined) front.pipeline_tag = input.pipelineTag;
  return front;
}

export function renderModelCard(input: ModelCardInput): string {
  // blockQuote: false writes multi-line strings double-quoted with \n escapes, so no value can put a
  // line reading `---` (the end of the front matter) into the file; lineWidth: 0 keeps values unfolded.
  const yaml = stringify(modelCardFrontMatter(input), { blockQuote: false, lineWidth: 0 });
  const sections = [
    `# ${escapeMarkdown(input.title)}`,
    whatItIs(input),
    howToApply(input),
    provenance(input),
    statistics(input),
    knownLimits(),
  ].filter((section) => section !== '');
  return `---\n${yaml}---\n\n${sections.join('\n\n')}\n`;
}

/**
 * Escapes text for Markdown prose and table cells: no markup, link, code span, table separator or
 * HTML from the text takes effect, and line breaks become spaces so a value stays on its line.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/\r\n|\r|\n|\u2028|\u2029/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]|~]/g, (character) => `\\${character}`);
}

function whatItIs(input: ModelCardInput): string {
  const scale = formatNumber(input.scale);
  if (input.kind === 'residual') {
    const lines = [
      'This is an instruction residual: the tensor-by-tensor difference between an instruct model and its base,',
      '',
      '    R = θ_instruct − θ_base',
      '',
      `computed in ${/^(F64|float64)$/.test(input.dtype) ? 'f64' : 'f32'} and stored as ${escapeMarkdown(input.dtype)}. Adding it to a checkpoint that continued`,
      'pretraining from the same base restores instruction following without fine-tuning again:',
      '',
      `    θ_new = θ_cpt + α · R    (α = ${scale} by default)`,
      '',
      `- base: ${describeRef(input.base, input.output)}`,
    ];
    if (input.instruct) lines.push(`- instruct: ${describeRef(input.instruct, input.output)}`);
    const dequantized = dequantizedSentence(input.quantization);
    if (dequantized !== undefined) lines.push('', dequantized);
    return lines.join('\n');
  }
  if (input.lora) {
    const ranks = input.lora.ranks.length === 1 ? `rank ${input.lora.ranks[0]}` : `ranks ${input.lora.ranks.join(', ')}`;
    return [
      `This model was made by merging a LoRA adapter (${formatCount(input.lora.modules)} modules, ${ranks}) into a checkpoint:`,
      '',
      `    θ_new = θ + α · scaling · (B @ A)    with α = ${scale}`,
      '',
      `computed in f32 in a defined order, with one rounding to ${escapeMarkdown(input.dtype)}.`,
      '',
      `- checkpoint (θ): ${describeRef(input.base, input.output)}`,
      input.residual ? `- adapter: ${describeRef(input.residual, input.output)}` : '',
    ].join('\n').trimEnd();
  }
  return [
    'This model was made by adding an instruction residual to a continued-pretraining checkpoint:',
    '',
    `    θ_new = θ_cpt + α · R    with α = ${scale}`,
    '',
    `computed in f32 with one rounding to ${escapeMarkdown(input.dtype)}.`,
    '',
    `- continued-pretraining base (θ_cpt): ${describeRef(input.base, input.output)}`,
    input.residual ? `- residual (R): ${describeRef(input.residual, input.output)}` : '',
  ].join('\n').trimEnd();
}

/**
 * Where the base or the instruct model is FP8: one sentence that R is the difference of the dequantized weights,
 * e.g. `The base and the instruct model are FP8 (fp8, block scales 128 x 128): R is the difference of the dequantized
 * weights, each FP8 element times its scale in binary32, and holds no scales.`
 */
function dequantizedSentence(quantization: ModelCardInput['quantization']): string | undefined {
  const a = quantization?.a;
  const b = quantization?.b;
  if (a === undefined && b === undefined) return undefined;
  const scheme = (side: ReportQuantization): string => escapeMarkdown(quantizationScheme(side));
  const who = a && b
    ? (scheme(a) === scheme(b) ? `The base and the instruct model are FP8 (${scheme(a)})` : `The base (${scheme(a)}) and the instruct model (${scheme(b)}) are FP8`)
    : a ? `The base is FP8 (${scheme(a)})` : `The instruct model is FP8 (${scheme(b!)})`;
  return `${who}: R is the difference of the dequantized weights, each FP8 element times its scale in binary32, and holds no scales.`;
}

function howToApply(input: ModelCardInput): string {
  const residual = input.kind === 'residual' ? input.output : input.residual;
  const residualName = residual ? refName(residual, input.output) : 'path/to/residual';
  const cptBase = input.kind === 'residual' ? 'path/to/your-continued-pretraining-checkpoint' : refName(input.base, input.output);
  const scale = formatNumber(input.scale);
  const heading = input.kind === 'residual' ? '## How to apply' : '## How to reproduce';
  const cli = [
    `${TOOL_NAME} apply --base ${shellQuote(cptBase)} --residual ${shellQuote(residualName)} \\`,
    `  --out ${shellQuote('./merged')} --scale ${scale}`,
  ].join('\n');
  const python = input.lora ? [
    'import torch',
    'from peft import PeftModel',
    'from transformers import AutoModelForCausalLM',
    '',
    `model = AutoModelForCausalLM.from_pretrained(${pythonString(cptBase)}, torch_dtype=torch.bfloat16)`,
    `model = PeftModel.from_pretrained(model, ${pythonString(residualName)}).merge_and_unload()`,
    'model.save_pretrained("./merged")',
  ].join('\n') : [
    'import torch',
    'from residuals import Residuals',
    'from transformers import AutoModelForCausalLM',
    '',
    `residual = Residuals.from_pretrained(${pythonString(residualName)})`,
    `model = AutoModelForCausalLM.from_pretrained(${pythonString(cptBase)}, torch_dtype=torch.bfloat16)`,
    `residual.apply(model, out_dir="./merged", scale=${scale})`,
  ].join('\n');
  return [
    heading,
    '',
    `With the ${TOOL_NAME} command line (streams the tensors, bit-exact, flat memory):`,
    '',
    codeBlock('sh', cli),
    '',
    'In VS Code, with the Checkpoint Surgeon extension: run **Checkpoint Surgeon: Apply Residual** from the',
    'Command Palette and pick the base checkpoint, this residual and an output folder.',
    '',
    input.lora
      ? 'In Python, with PEFT (its merge rounds in the weights\' dtype, so the last bits may differ):'
      : 'In Python, with the `residuals` package (`pip install residuals`), which reads this folder directly:',
    '',
    codeBlock('python', python),
  ].join('\n');
}

function provenance(input: ModelCardInput): string {
  const rows: Array<[string, string]> = [
    ['tool', `${TOOL_NAME} ${input.toolVersion ?? TOOL_VERSION}`],
    ['created', input.createdAt.toISOString()],
    ['dtype', input.dtype],
    ['scale (α)', formatNumber(input.scale)],
    [input.kind === 'residual' ? 'base' : 'continued-pretraining base', describeRefPlain(input.base, input.output)],
  ];
  if (input.instruct) rows.push(['instruct', describeRefPlain(input.instruct, input.output)]);
  if (input.residual) rows.push(['residual', describeRefPlain(input.residual, input.output)]);
  const lines = ['## Provenance', '', table(['', ''], rows)];
  const files: string[][] = [];
  for (const role of ['base', 'instruct', 'residual'] as const) {
    for (const file of input.provenance?.[role] ?? []) {
      files.push([role, file.file, formatCount(file.bytes), file.sha256]);
    }
  }
  if (files.length > 0) lines.push('', 'Input files:', '', table(['role', 'file', 'bytes', 'SHA-256'], files));
  return lines.join('\n');
}

function statistics(input: ModelCardInput): string {
  const lines: string[] = [];
  const summary = input.summary;
  if (summary) {
    const global = summary.globalRelativeNorm === null ? 'n/a' : formatNumber(summary.globalRelativeNorm);
    lines.push(
      `Global relative norm ‖R‖ / ‖θ_base‖: ${global}. Tensors: ${tensorCounts(summary)}; `
        + `parameters compared: ${formatCount(summary.parametersCompared)}.`,
    );
    if (summary.mostChanged.length > 0) {
      lines.push('', 'Most changed tensors:', '', table(
        ['tensor', 'relative norm'],
        summary.mostChanged.map((entry) => [entry.name, formatNumber(entry.relativeNorm)]),
      ));
    }
  }
  const growth = input.vocabularyGrowth ?? [];
  if (growth.length > 0) {
    lines.push('', 'Vocabulary growth (the new rows are taken whole from the instruct model):', '', table(
      ['tensor', 'rows', 'added tokens'],
      growth.map((entry) => [entry.tensor, `${entry.fromRows} → ${entry.toRows}`, listTokens(entry.addedTokens)]),
    ));
  }
  const tokenizer = input.tokenizer;
  if (tokenizer) {
    const notes = tokenizerNotes(tokenizer);
    if (notes.length > 0) lines.push('', 'Tokenizer changes:', '', ...notes.map((note) => `- ${escapeMarkdown(note)}`));
  }
  while (lines[0] === '') lines.shift();
  return lines.length > 0 ? ['## Statistics', '', ...lines].join('\n') : '';
}

/** Plain-text notes; the caller escapes them for Markdown. */
function tokenizerNotes(report: TokenizerReport): string[] {
  const notes: string[] = [];
  if (report.vocabSize.a !== report.vocabSize.b) {
    notes.push(`vocabulary size ${report.vocabSize.a ?? 'unknown'} → ${report.vocabSize.b ?? 'unknown'}`);
  }
  const added = report.addedTokens;
  if (added.onlyInB.length > 0) {
    notes.push(`added tokens only in the instruct model: ${listTokens(added.onlyInB)}`);
  }
  if (added.onlyInA.length > 0) notes.push(`added tokens only in the base: ${listTokens(added.onlyInA)}`);
  if (added.changed.length > 0) notes.push(`added tokens redefined: ${listTokens(added.changed.map((entry) => entry.b))}`);
  const template = report.chatTemplate;
  if (template.changed) {
    const what = !template.a && template.b ? 'added' : template.a && !template.b ? 'removed' : 'changed';
    notes.push(`chat template ${what}`);
  }
  if (report.specialTokens.length > 0) {
    notes.push(`special tokens changed: ${report.specialTokens.map((entry) => entry.key).join(', ')}`);
  }
  if (report.changes.length > 0) {
    notes.push(`settings changed: ${report.changes.map((entry) => entry.key).join(', ')}`);
  }
  return notes;
}

function knownLimits(): string {
  return [
    '## Known limits',
    '',
    '- A residual only carries over within one model family: the same architecture, shapes and tokenizer lineage.',
    '- It must be applied to a checkpoint that descends from the exact base checkpoint it was computed against;',
    '  added to any other weights, the result is not the instruct behaviour.',
    '- New vocabulary rows (added tokens) take the instruct model\'s rows whole; the continued-pretraining',
    '  checkpoint has no trained values for them.',
  ].join('\n');
}

function listTokens(tokens: ReadonlyArray<{ id: number; content: string }>): string {
  return formatFirstOf(tokens.map((token) => `${token.id} ${token.content}`), MAX_LISTED_ADDED_TOKENS);
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map(escapeMarkdown).join(' | ')} |`;
  return [line(header), `|${header.map(() => ' --- |').join('')}`, ...rows.map(line)].join('\n');
}

/** A fence of more backticks than the longest run inside, so the content cannot close it. */
export function codeBlock(language: string, code: string): string {
  const longestRun = Math.max(0, ...(code.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longestRun + 1));
  return `${fence}${language}\n${code}\n${fence}`;
}

/** Every status that has tensors, so the counts add up to the report's (grown embeddings are `shape-mismatch`). */
function tensorCounts(summary: DiffSummary): string {
  const words: Record<TensorStatus, string> = {
    changed: 'changed', unchanged: 'unchanged', 'shape-mismatch': 'grown or shrunk (vocabulary)', 'dtype-mismatch': 'of another dtype',
    'only-in-a': 'only in the base', 'only-in-b': 'only in the instruct model',
  };
  return TENSOR_STATUSES.filter((status) => summary.counts[status] > 0).map((status) => `${formatCount(summary.counts[status])} ${words[status]}`).join(', ');
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** JSON string syntax is also a valid Python string literal (same escapes, \uXXXX included). */
export function pythonString(text: string): string {
  return JSON.stringify(text);
}

/** How the card names a checkpoint in its usage examples: the Hub id, else the path relative to the card. */
export function refName(ref: CheckpointRef, card: CheckpointRef): string {
  return ref.hubId ?? cardPath(ref, card);
}

function describeRef(ref: CheckpointRef, card: CheckpointRef): string {
  return escapeMarkdown(describeRefPlain(ref, card));
}

function describeRefPlain(ref: CheckpointRef, card: CheckpointRef): string {
  return ref.hubId ?? cardPath(ref, card);
}

/**
 * The Hugging Face repo of a checkpoint that came from the Hub, without the revision (`base_model` takes a
 * repo id); undefined for a local one.
 */
export function hubRepo(ref: CheckpointRef): string | undefined {
  return ref.hubId?.replace(/@.*$/, '');
}

/**
 * A checkpoint's path from the folder the card is in, with `/` separators: a card travels with its folder
 * (pushed to the Hub, copied to another machine), where an absolute path, often a temporary one, means
 * nothing. The card's own folder is `.`; a path on another drive keeps only its name.
 */
export function cardPath(ref: CheckpointRef, card: CheckpointRef): string {
  const from = resolve(card.path);
  const to = resolve(ref.path);
  const path = relative(from, to);
  if (path === '') return '.';
  if (isAbsolute(path)) return basename(to);
  return sep === '/' ? path : path.split(sep).join(posix.sep);
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return value.toFixed(1);
  return Math.abs(value) >= 1e-3 ? String(Number(value.toPrecision(6))) : value.toExponential(3);
}
