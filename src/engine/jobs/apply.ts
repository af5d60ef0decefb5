import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { SurgeonError } from '../errors';
import { TORCH_DTYPE_NAMES, type Dtype } from '../format/dtype';
import { PROVENANCE_FILE, readProvenance, writeProvenance } from '../io/provenance-file';
import { diffConfigs } from '../report/config-diff';
import { appliedCardInput, renderModelCard } from '../report/model-card';
import { loadTokenizerFiles } from '../report/tokenizer-diff';
import type { ApplyOptions, ApplyResult, DryRunResult, JobCallbacks, OutputDtype, PlanIssue } from '../../shared/jobs';
import type { DiffReport } from '../../shared/report';
import { isLoraAdapter } from '../lora/adapter-reader';
import { planAdapterApply } from './apply-adapter';
import { applyHandlers, type ApplyTask } from './apply-pieces';
import { blockQuantizationConfig, blockScaleName, blockScaleShape } from '../checkpoint/fp8-scales';
import type { TensorRef } from '../checkpoint/checkpoint-types';
import { dequantizedView, Fp8Operands, fp8WeightsOf, type DequantizedView } from './fp8-inputs';
import { BandQuantizer, FP8_OUTPUT_BLOCK } from './fp8-output';
import { isFp8Dtype } from '../numerics/float8';
import { REPORT_FILE, dominantDtype } from './compute';
import { checkpointRef } from './diff-report';
import { runWritingJob, type Inputs, type WritePlan } from './job-pipeline';
import { outputSideFiles, type SideFileCopy } from './output-side-files';
import { elementCount, pairTensors } from './pair-tensors';
import { refuseOnErrors } from './plan-error';
import { requestedDtype } from './requested-dtype';
import { residualConfigIssues } from './residual-config-hashes';
import { residualLooksLikeModel } from './residual-looks-like-model';
import { planTiedHead } from './tied-head';
import type { PlannedTensor } from '../format/safetensors-writer';
import type { ShardedOutput } from './sharded-output';
import { jobStreamOptions, streamOperand, streamTensors, type StreamOperand, type StreamTask } from './tensor-stream';
import { vocabularyGrowth } from './vocabulary-growth';

/**
 * M = C + scale * R, tensor by tensor, narrowed once from f32 to C's dtype (or `dtype`). With `dryRun`
 * it stops after the plan and says what it would write.
 */
export async function runApply(options: ApplyOptions & { dryRun: true }, callbacks?: JobCallbacks): Promise<DryRunResult>;
export async function runApply(options: ApplyOptions & { dryRun?: false }, callbacks?: JobCallbacks): Promise<ApplyResult>;
export async function runApply(options: ApplyOptions, callbacks?: JobCallbacks): Promise<ApplyResult | DryRunResult>;
export async function runApply(options: ApplyOptions, callbacks: JobCallbacks = {}): Promise<ApplyResult | DryRunResult> {
  const scale = options.scale ?? 1;
  // The arithmetic is binary32: a scale that is finite as a number but not in binary32 makes every result infinite.
  if (!Number.isFinite(Math.fround(scale))) throw new SurgeonError('usage', `the scale must be a finite binary32 number (|scale| < 3.4e38), not ${scale}`);
  const selection = { include: compilePattern(options.include, '--include'), exclude: compilePattern(options.exclude, '--exclude') };
  const inputs = { base: options.base, residual: options.residual };
  return runWritingJob({ operation: 'apply', inputs, output: options }, callbacks, (opened) => (isLoraAdapter(opened.residual)
    ? planAdapterApply(options, callbacks, opened, scale, selection)
    : planApply(options, callbacks, opened, scale, selection)));
}

export type ApplySpecs = { base: string; residual: string };

/** `--include` and `--exclude`, compiled. */
export interface TensorSelection {
  include: RegExp | undefined;
  exclude: RegExp | undefined;
}

async function planApply(
  options: ApplyOptions, callbacks: JobCallbacks, { base: target, residual }: Inputs<ApplySpecs>,
  scale: number, { include, exclude }: TensorSelection,
): Promise<WritePlan<ApplySpecs, void, ApplyResult>> {
  const force = options.force === true;
  // An FP8 target's weights are dequantized with their scales (docs/fp8.md); the scales are not tensors of their own.
  const targetView = dequantizedView(target);
  const residualView = dequantizedView(residual);
  const fp8Weights = fp8WeightsOf(targetView, residualView);
  const tiedHead = await planTiedHead(targetView.checkpoint, residualView.checkpoint, force);
  const pairing = pairTensors(targetView.checkpoint, tiedHead.residual, {
    onlyInA: { severity: 'info', resolution: 'the residual has no such tensor; it is copied unchanged' },
    onlyInB: force
      ? { severity: 'warning', resolution: 'the target has no such tensor; skipped (--force)' }
      : { severity: 'error', resolution: 'the residual changes a tensor the target does not have (use --force to skip it)' },
    resolveTiedHead: false,
  });
  const sideFiles = outputSideFiles(target, residual);
  const issues: PlanIssue[] = [
    ...await residualBaseCompatibility(target, residual, force),
    ...residualConfigIssues(residual, target, force ? 'warning' : 'error', force ? ' (going on: --force)' : ' (use --force to apply it anyway)'),
    ...tiedHead.issues,
    ...pairing.issues,
    ...sideFiles.issues,
  ];
  // Refused before the residual's values are read to tell it from a whole model.
  refuseOnErrors(issues);
  issues.push(...await residualLooksLikeModel(target, tiedHead.residual, force));

  const selected = (name: string): boolean => (!include || include.test(name)) && !(exclude?.test(name));
  const tasks: ApplyTask[] = pairing.pairs.filter((pair) => pair.a).map((pair) => ({
    pair,
    add: pair.comparable && pair.arithmetic && pair.b !== undefined && selected(pair.name),
  }));
  issues.push(...unmatchedPatternIssues([...residual.tensors.keys()], [[options.include, include, '--include'], [options.exclude, exclude, '--exclude']]));
  // Without --dtype (or with same) an FP8 target's FP8 weights are written as BF16, a loadable BF16 model, and its other
  // tensors keep their dtypes; --dtype fp8 re-quantizes them with fresh block scales.
  const dtypeOf = (task: ApplyTask): Dtype => requestedDtype(task.pair.a!.dtype, options.dtype ?? 'same');
  const shapeOf = (task: ApplyTask): number[] => (task.add ? task.pair.shape : task.pair.a!.shape);
  const fp8Plan = options.dtype === 'fp8' ? planFp8Output(targetView, tasks, dtypeOf) : undefined;
  return {
    issues,
    sideFiles: () => appliedSideFileNames(target, sideFiles.copies),
    tensors: () => tasks.flatMap((task) => plannedTensors(task, shapeOf(task), dtypeOf(task), fp8Plan)),
    async stream(kernels, { weights, inputReading }) {
      const fp8 = new Fp8Operands<ApplyTask>(kernels, fp8Weights);
      const bands = new BandQuantizer(kernels);
      const operandsOf = (task: ApplyTask): StreamOperand[] => (task.add ? [streamOperand(task.pair.a!), streamOperand(task.pair.b!)] : [streamOperand(task.pair.a!)]);
      try {
        const streamTasks = tasks.flatMap((task) => applyStreamTasks(task, operandsOf(task), shapeOf(task), dtypeOf(task), weights, fp8Plan));
        await streamTensors(streamTasks, applyHandlers(kernels, scale, fp8, bands), jobStreamOptions(kernels, callbacks, inputReading));
      } finally {
        fp8.free();
        bands.free();
      }
    },
    async finish(_streamed, output) {
      const residualTokenizer = residual.layout === 'file' ? null : await loadTokenizerFiles(residual.root);
      const added = tasks.filter((task) => task.add);
      const result: ApplyResult = {
        kind: 'apply',
        out: output.target,
        scale,
        tensors: tasks.length,
        applied: added.map((task) => task.pair.name),
        copiedUnchanged: tasks.filter((task) => !task.add).map((task) => task.pair.name),
        skipped: pairing.pairs.filter((pair) => !pair.a && pair.b).map((pair) => pair.name),
        files: output.files,
        issues,
        vocabularyGrowth: vocabularyGrowth(added.map((task) => task.pair), residualTokenizer),
        seconds: 0,
      };
      const dtype = dominantDtype(tasks.map(dtypeOf));
      await writeOutputConfigAndSideFiles(output.dir, target, sideFiles.copies, {
        tasks, dtypeOf, requested: options.dtype ?? 'same', dequantized: fp8Weights.size > 0 && targetView.fp8 !== undefined, requantized: fp8Plan !== undefined,
      });
      const createdAt = new Date();
      await writeProvenance(output.dir, {
        createdAt: createdAt.toISOString(),
        operation: 'apply',
        formula: `M = C + ${scale} * R`,
        scale,
        include: options.include ?? null,
        exclude: options.exclude ?? null,
        base: { ...checkpointRef(target), files: output.provenance.base },
        residual: { ...checkpointRef(residual), files: output.provenance.residual },
        dtype,
        output: output.files,
      });
      const report = await readResidualReport(residual);
      await writeFile(join(output.dir, 'README.md'), renderModelCard(appliedCardInput(result, {
        base: checkpointRef(target), residual: checkpointRef(residual), dtype, ...(report ? { report } : {}),
      }, { createdAt })));
      return result;
    },
  };
}

/** What an applied model's folder holds beside its weights, in the order `finish` writes it. */
export function appliedSideFileNames(target: Checkpoint, copies: readonly SideFileCopy[]): string[] {
  return [...(target.config ? ['config.json'] : []), ...copies.map((copy) => copy.name), PROVENANCE_FILE, 'README.md'];
}

/** The output tensors of `task`: its tensor, and with --dtype fp8 its scales. */
export function plannedTensors(task: ApplyTask, shape: number[], dtype: Dtype, fp8Plan: Fp8OutputPlan | undefined): PlannedTensor[] {
  const tensor = { name: task.pair.name, dtype, shape };
  const scales = fp8Plan?.scalesOf(task);
  return scales ? [tensor, { name: scales.name, dtype: 'F32' as const, shape: scales.shape }] : [tensor];
}

/**
 * The stream tasks that write `task`'s tensor: one, or, re-quantized to FP8 (--dtype fp8), one for its bytes and one for
 * their scales, or its bytes and scales copied where the target's are already in the layout written.
 */
export function applyStreamTasks(
  task: ApplyTask, operands: StreamOperand[], shape: readonly number[], dtype: Dtype, weights: ShardedOutput, fp8Plan: Fp8OutputPlan | undefined,
): Array<StreamTask<ApplyTask>> {
  const output = { ...weights.locate(task.pair.name), dtype };
  const stream: StreamTask<ApplyTask> = { name: task.pair.name, elements: elementCount(shape), operands, output, context: task };
  const scales = fp8Plan?.scalesOf(task);
  if (!scales) return [stream];
  const location = weights.locate(scales.name);
  if (scales.copy) {
    // Not changed and already in the layout written: its bytes and its scales are copied.
    const pair = { name: scales.name, a: scales.copy, status: 'changed' as const, comparable: true, arithmetic: false, shape: scales.shape };
    return [{ name: scales.name, elements: scales.copy.elementCount, operands: [streamOperand(scales.copy)], output: { ...location, dtype: 'F32' }, context: { pair, add: false } }, stream];
  }
  const [rows, columns] = shape as [number, number];
  return [
    { ...stream, name: scales.name, output: { ...location, dtype: 'F8_E4M3' }, context: { ...task, fp8Output: { part: 'scales', rows, columns, location } } },
    { ...stream, context: { ...task, fp8Output: { part: 'bytes', rows, columns, location: weights.locate(task.pair.name) } } },
  ];
}

/**
 * Writes the output's config.json (the target's, with the dtypes and the vocabulary written: `dequantized`, the
 * target's FP8 weights were read dequantized; `requantized`, written re-quantized) and copies the side files.
 */
export async function writeOutputConfigAndSideFiles(
  dir: string, target: Checkpoint, copies: readonly SideFileCopy[],
  written: { tasks: readonly ApplyTask[]; dtypeOf: (task: ApplyTask) => Dtype; requested: OutputDtype; dequantized: boolean; requantized: boolean },
): Promise<void> {
  const { tasks, dtypeOf, requested } = written;
  if (target.config) {
    const dequantizedTo = written.dequantized && !written.requantized
      ? dominantDtype(tasks.filter((task) => isFp8Dtype(task.pair.a!.dtype)).map(dtypeOf)) : undefined;
    const config = written.requantized
      ? requantizedConfig(target.config, tasks)
      : appliedConfig(target.config, tasks, requested, dominantDtype(tasks.map(dtypeOf)), dequantizedTo);
    await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }
  for (const { name, from } of copies) await copyFile(from, join(dir, name));
}

/**
 * The target's config.json, with the vocabulary the output really has and the dtype it is stored in. An FP8 target
 * written dequantized (`dequantizedTo`, the dtype its FP8 weights were written in) loses its quantization section and
 * names that dtype.
 */
function appliedConfig(
  config: Record<string, unknown>, tasks: readonly ApplyTask[], requested: OutputDtype, dtype: string, dequantizedTo?: string,
): Record<string, unknown> {
  const updated: Record<string, unknown> = { ...config };
  if (dequantizedTo !== undefined) {
    delete updated['quantization_config'];
    delete updated['compression_config'];
    updated['torch_dtype'] = TORCH_DTYPE_NAMES[dequantizedTo as Dtype] ?? updated['torch_dtype'];
    if (requested === 'same') return withGrownVocabulary(updated, tasks);
  }
  if (requested !== 'same') updated['torch_dtype'] = TORCH_DTYPE_NAMES[dtype as Dtype] ?? updated['torch_dtype'];
  return withGrownVocabulary(updated, tasks);
}

export interface Fp8OutputPlan {
  /** The scale tensor written beside a task's weight (--dtype fp8), with the target's to copy when it can be copied. */
  scalesOf(task: ApplyTask): { name: string; shape: number[]; copy?: TensorRef } | undefined;
}

/**
 * --dtype fp8: every FP8 weight of the target is written as E4M3 with 128 x 128 block scales; one the residual does
 * not change and that is already so is copied with its scales, the others re-quantized (jobs/fp8-output.ts).
 */
export function planFp8Output(targetView: DequantizedView, tasks: readonly ApplyTask[], dtypeOf: (task: ApplyTask) => Dtype): Fp8OutputPlan {
  const fp8 = targetView.fp8;
  if (!fp8 || fp8.weights.size === 0) {
    throw new SurgeonError('usage', `--dtype fp8 re-quantizes the FP8 weights of an FP8 target, and ${targetView.checkpoint.root} has none; `
      + 'write it as bf16 (or same) instead');
  }
  const plans = new Map<ApplyTask, { name: string; shape: number[]; copy?: TensorRef }>();
  for (const task of tasks) {
    const source = fp8.weights.get(task.pair.name);
    if (dtypeOf(task) !== 'F8_E4M3' || !source) continue;
    const shape = blockScaleShape(source.rows, source.columns, [FP8_OUTPUT_BLOCK, FP8_OUTPUT_BLOCK]);
    const copyable = !task.add && source.dtype === 'F8_E4M3' && source.layout === 'block'
      && source.blockRows === FP8_OUTPUT_BLOCK && source.blockColumns === FP8_OUTPUT_BLOCK;
    plans.set(task, { name: blockScaleName(task.pair.name), shape, ...(copyable ? { copy: source.scale } : {}) });
  }
  return { scalesOf: (task) => plans.get(task) };
}

/** The target's config for an output re-quantized to E4M3 with 128 x 128 block scales: DeepSeek's quantization section. */
function requantizedConfig(config: Record<string, unknown>, tasks: readonly ApplyTask[]): Record<string, unknown> {
  const updated: Record<string, unknown> = { ...config };
  delete updated['compression_config'];
  const section = updated['quantization_config'] as Record<string, unknown> | undefined;
  const block = section?.['weight_block_size'];
  const same = section?.['quant_method'] === 'fp8' && (section['fmt'] === undefined || section['fmt'] === 'e4m3')
    && (block === undefined || (Array.isArray(block) && block[0] === FP8_OUTPUT_BLOCK && block[1] === FP8_OUTPUT_BLOCK));
  if (!same) updated['quantization_config'] = blockQuantizationConfig([FP8_OUTPUT_BLOCK, FP8_OUTPUT_BLOCK]);
  return withGrownVocabulary(updated, tasks);
}

function withGrownVocabulary(updated: Record<string, unknown>, tasks: readonly ApplyTask[]): Record<string, unknown> {
  const grownRows = Math.max(0, ...tasks.filter((task) => task.add && task.pair.growth).map((task) => task.pair.growth!.toRows));
  if (grownRows > 0 && typeof updated['vocab_size'] === 'number' && grownRows > updated['vocab_size']) updated['vocab_size'] = grownRows;
  return updated;
}

/**
 * A residual folder written by compute keeps its base's config in provenance.json; the target must
 * be of the same family. Residuals from elsewhere carry no base config, and are taken on trust.
 */
export async function residualBaseCompatibility(target: Checkpoint, residual: Checkpoint, force: boolean): Promise<PlanIssue[]> {
  const baseConfig = (await readProvenance(residual.root))?.base.config;
  if (!target.config || !baseConfig || typeof baseConfig !== 'object') return [];
  const report = diffConfigs(baseConfig, target.config);
  if (report.verdict !== 'incompatible') return [];
  return (report.refusals ?? report.reasons).map((reason) => ({
    severity: force ? 'warning' : 'error',
    rule: 'incompatible-config',
    file: target.root,
    message: `the residual was computed against another family: ${reason}${force ? ' (going on: --force)' : ' (use --force to override)'}`,
  }));
}

async function readResidualReport(residual: Checkpoint): Promise<DiffReport | undefined> {
  return (await readJson(join(residual.root, REPORT_FILE))) as DiffReport | undefined;
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** `--include` or `--exclude` that names no tensor of the residual is a typo, not a choice: refused. */
export function unmatchedPatternIssues(names: readonly string[], patterns: ReadonlyArray<[string | undefined, RegExp | undefined, string]>): PlanIssue[] {
  return patterns.flatMap(([source, pattern, flag]) => (pattern && !names.some((name) => pattern.test(name)) ? [{
    severity: 'error' as const,
    rule: 'pattern-matches-nothing',
    message: `${flag} ${JSON.stringify(source)} matches none of the residual's ${names.length} tensors (e.g. ${JSON.stringify(names[0] ?? '')}); `
      + `${flag === '--include' ? 'nothing would be applied' : 'it would exclude nothing'}`,
  }] : []));
}

function compilePattern(pattern: string | undefined, flag: string): RegExp | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new SurgeonError('usage', `${flag} is not a valid regular expression: ${(error as Error).message}`);
  }
}
