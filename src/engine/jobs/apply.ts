import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertUnchanged } from '../checkpoint/assert-unchanged';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { SurgeonError } from '../errors';
import { TORCH_DTYPE_NAMES, bytesPerElement, isFloatDtype, type Dtype, type FloatDtype } from '../format/dtype';
import { DEFAULT_MAX_SHARD_BYTES } from '../format/safetensors-writer';
import { createAtomicOutput } from '../io/atomic-output';
import { firstNewNonFinite } from '../kernels/non-finite';
import type { ElementwiseKernels, KernelBuffer } from '../kernels/kernels';
import { withJobKernels } from './job-kernels';
import { diffConfigs } from '../report/config-diff';
import { appliedCardInput, renderModelCard } from '../report/model-card';
import { loadTokenizerFiles } from '../report/tokenizer-diff';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import type { ApplyOptions, ApplyResult, DryRunResult, JobCallbacks, PlanIssue, ResidualDtype } from '../../shared/jobs';
import type { DiffReport } from '../../shared/report';
import { PROVENANCE_FILE } from '../io/existing-output';
import { REPORT_FILE, dominantDtype } from './compute';
import { dryRunResult } from './dry-run';
import { staleOutputIssues } from './stale-output-issues';
import { InputHashes } from './input-hashes';
import { openInputs } from './open-input';
import { elementCount, pairTensors, rowElements, type TensorPair } from './pair-tensors';
import { refuseOnErrors } from './plan-error';
import { requestedDtype } from './requested-dtype';
import { outputSideFiles } from './output-side-files';
import { residualConfigIssues } from './residual-config-hashes';
import { residualLooksLikeModel } from './residual-looks-like-model';
import { ShardedOutput } from './sharded-output';
import { planTiedHead } from './tied-head';
import { cancelled, streamTensors, type StreamOperand, type StreamTask } from './tensor-stream';
import { vocabularyGrowth } from './vocabulary-growth';

interface ApplyTask {
  pair: TensorPair;
  /** Add the residual (false: copy the target's tensor). */
  add: boolean;
}

/**
 * M = C + scale * R, tensor by tensor, narrowed once from f32 to C's dtype (or `dtype`). With `dryRun`
 * it stops after the plan and says what it would write.
 */
export async function runApply(options: ApplyOptions & { dryRun: true }, callbacks?: JobCallbacks): Promise<DryRunResult>;
export async function runApply(options: ApplyOptions & { dryRun?: false }, callbacks?: JobCallbacks): Promise<ApplyResult>;
export async function runApply(options: ApplyOptions, callbacks?: JobCallbacks): Promise<ApplyResult | DryRunResult>;
export async function runApply(options: ApplyOptions, callbacks: JobCallbacks = {}): Promise<ApplyResult | DryRunResult> {
  const started = performance.now();
  const scale = options.scale ?? 1;
  // The arithmetic is binary32: a scale that is finite as a number but not in binary32 makes every result infinite.
  if (!Number.isFinite(Math.fround(scale))) throw new SurgeonError('usage', `the scale must be a finite binary32 number (|scale| < 3.4e38), not ${scale}`);
  const include = compilePattern(options.include, '--include');
  const exclude = compilePattern(options.exclude, '--exclude');
  callbacks.onProgress?.({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const [target, residual] = await openInputs([options.base, options.residual] as const, callbacks);
  const force = options.force === true;

  const tiedHead = await planTiedHead(target, residual, force);
  const pairing = pairTensors(target, tiedHead.residual, {
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
  refuseOnErrors(issues);
  issues.push(...await residualLooksLikeModel(target, tiedHead.residual, force));

  const selected = (name: string): boolean => (!include || include.test(name)) && !(exclude?.test(name));
  const tasks: ApplyTask[] = pairing.pairs.filter((pair) => pair.a).map((pair) => ({
    pair,
    add: pair.comparable && pair.arithmetic && pair.b !== undefined && selected(pair.name),
  }));
  issues.push(...unmatchedPatternIssues([...residual.tensors.keys()], [[options.include, include, '--include'], [options.exclude, exclude, '--exclude']]));
  refuseOnErrors(issues);
  const skipped = pairing.pairs.filter((pair) => !pair.a && pair.b).map((pair) => pair.name);
  const outputName = (task: ApplyTask): string => task.pair.name;
  const dtypeOf = (task: ApplyTask): Dtype => requestedDtype(task.pair.a!.dtype, options.dtype ?? 'same');
  const shapeOf = (task: ApplyTask): number[] => (task.add ? task.pair.shape : task.pair.a!.shape);
  const planned = tasks.map((task) => ({ name: outputName(task), dtype: dtypeOf(task), shape: shapeOf(task) }));
  if (options.dryRun) return dryRunResult('apply', options.out, { overwrite: options.overwrite === true, inputs: { base: target, residual } }, issues, planned, options.shardSize ?? DEFAULT_MAX_SHARD_BYTES, started);

  let hashes: InputHashes | undefined;
  const output = await createAtomicOutput(options.out, { overwrite: options.overwrite === true, inputs: { base: target, residual } });
  issues.push(...staleOutputIssues(output));
  try {
    const weights = await ShardedOutput.create(output.dir, planned, options.shardSize ?? DEFAULT_MAX_SHARD_BYTES);
    await Promise.all([...target.files, ...residual.files].map(assertUnchanged));
    hashes = InputHashes.start([target, residual], callbacks.signal);
    const { inputReading } = hashes;
    try {
      const streamTasks: Array<StreamTask<ApplyTask>> = tasks.map((task) => {
        const { pair } = task;
        const rows = rowElements(pair.shape);
        const operand = (side: 'a' | 'b'): StreamOperand => {
          const ref = side === 'a' ? pair.a! : pair.b!;
          return { ref, dtype: ref.dtype, presentElements: pair.growth?.side === side ? pair.growth.fromRows * rows : ref.elementCount };
        };
        return {
          name: pair.name,
          elements: elementCount(shapeOf(task)),
          operands: task.add ? [operand('a'), operand('b')] : [{ ref: pair.a!, dtype: pair.a!.dtype, presentElements: pair.a!.elementCount }],
          output: { ...weights.locate(outputName(task)), dtype: dtypeOf(task) },
          context: task,
        };
      });
      await withJobKernels((kernels) => streamTensors(streamTasks, {
        processPiece({ task, start, count, inputs, output: out }) {
          const [c, r] = inputs;
          const outDtype = task.output!.dtype;
          const cDtype = task.operands[0]!.dtype;
          if (task.context.add) {
            kernels.addScaled(c!, cDtype, r!, task.operands[1]!.dtype, scale, out, outDtype, count);
            refuseNewNonFinite(kernels, task.context.pair.a!.file.path, task.name, [{ buffer: c!, dtype: cDtype }, { buffer: r!, dtype: task.operands[1]!.dtype }], { buffer: out, dtype: outDtype }, count, start, scale);
          } else if (cDtype !== outDtype && isFloatDtype(cDtype)) {
            kernels.convert(c!, cDtype, out, outDtype, count);
            refuseNewNonFinite(kernels, task.context.pair.a!.file.path, task.name, [{ buffer: c!, dtype: cDtype }], { buffer: out, dtype: outDtype }, count, start, scale);
          } else {
            out.bytes.set(c!.bytes.subarray(0, count * (bytesPerElement(cDtype) ?? 1)));
          }
        },
      }, {
        kernels,
        inputReading,
        ...(callbacks.signal ? { signal: callbacks.signal } : {}),
        ...(callbacks.onProgress ? { onProgress: callbacks.onProgress } : {}),
      }));
    } catch (error) {
      await weights.discard();
      throw error;
    }
    const files = await weights.finish();
    const [targetHashes, residualHashes] = await hashes.provenance([target, residual] as const);
    await Promise.all([...target.files, ...residual.files].map(assertUnchanged));

    const residualTokenizer = residual.layout === 'file' ? null : await loadTokenizerFiles(residual.root);
    const growth = vocabularyGrowth(tasks.filter((task) => task.add).map((task) => task.pair), residualTokenizer);
    const applied = tasks.filter((task) => task.add).map((task) => task.pair.name);
    const copiedUnchanged = tasks.filter((task) => !task.add).map((task) => task.pair.name);
    const outDtypes = tasks.map(dtypeOf);
    const result: ApplyResult = {
      kind: 'apply', out: output.target, scale, tensors: tasks.length, applied, copiedUnchanged, skipped, files, issues, vocabularyGrowth: growth, seconds: 0,
    };

    if (target.config) {
      await writeFile(join(output.dir, 'config.json'), `${JSON.stringify(appliedConfig(target.config, tasks, options.dtype ?? 'same', dominantDtype(outDtypes)), null, 2)}\n`);
    }
    for (const { name, from } of sideFiles.copies) await copyFile(from, join(output.dir, name));
    const createdAt = new Date();
    await writeFile(join(output.dir, PROVENANCE_FILE), `${JSON.stringify({
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      createdAt: createdAt.toISOString(),
      operation: 'apply',
      formula: `M = C + ${scale} * R`,
      scale,
      include: options.include ?? null,
      exclude: options.exclude ?? null,
      base: { path: options.base, files: targetHashes },
      residual: { path: options.residual, files: residualHashes },
      dtype: dominantDtype(outDtypes),
      output: files,
    }, null, 2)}\n`);
    const report = await readResidualReport(residual);
    await writeFile(join(output.dir, 'README.md'), renderModelCard(appliedCardInput(result, {
      base: { path: options.base }, residual: { path: options.residual }, dtype: dominantDtype(outDtypes), ...(report ? { report } : {}),
    }, { createdAt })));
    // The last moment a Cancel can still leave no output: after the rename the job is done.
    if (callbacks.signal?.aborted) throw cancelled();
    await output.commit();
    result.seconds = (performance.now() - started) / 1000;
    return result;
  } catch (error) {
    hashes?.stop();
    await output.abort();
    throw error;
  }
}

/** The target's config.json, with the vocabulary the output really has and the dtype it is stored in. */
function appliedConfig(config: Record<string, unknown>, tasks: readonly ApplyTask[], requested: ResidualDtype, dtype: string): Record<string, unknown> {
  const updated: Record<string, unknown> = { ...config };
  const grownRows = Math.max(0, ...tasks.filter((task) => task.add && task.pair.growth).map((task) => task.pair.growth!.toRows));
  if (grownRows > 0 && typeof updated['vocab_size'] === 'number' && grownRows > updated['vocab_size']) updated['vocab_size'] = grownRows;
  if (requested !== 'same') updated['torch_dtype'] = TORCH_DTYPE_NAMES[dtype as Dtype] ?? updated['torch_dtype'];
  return updated;
}

/**
 * A residual folder written by compute keeps its base's config in provenance.json; the target must
 * be of the same family. Residuals from elsewhere carry no base config, and are taken on trust.
 */
async function residualBaseCompatibility(target: Checkpoint, residual: Checkpoint, force: boolean): Promise<PlanIssue[]> {
  const provenance = await readJson(join(residual.root, PROVENANCE_FILE));
  const baseConfig = (provenance?.['base'] as Record<string, unknown> | undefined)?.['config'];
  if (!target.config || !baseConfig || typeof baseConfig !== 'object') return [];
  const report = diffConfigs(baseConfig as Record<string, unknown>, target.config);
  if (report.verdict !== 'incompatible') return [];
  return report.reasons.map((reason) => ({
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
function unmatchedPatternIssues(names: readonly string[], patterns: ReadonlyArray<[string | undefined, RegExp | undefined, string]>): PlanIssue[] {
  return patterns.flatMap(([source, pattern, flag]) => (pattern && !names.some((name) => pattern.test(name)) ? [{
    severity: 'error' as const,
    rule: 'pattern-matches-nothing',
    message: `${flag} ${JSON.stringify(source)} matches none of the residual's ${names.length} tensors (e.g. ${JSON.stringify(names[0] ?? '')}); `
      + `${flag === '--include' ? 'nothing would be applied' : 'it would exclude nothing'}`,
  }] : []));
}

interface PieceOperand {
  buffer: KernelBuffer;
  dtype: Dtype;
}

/**
 * Refuses an output element that is infinite or NaN although its inputs are finite: the scale or the
 * output dtype overflowed. The kernels' check is one SIMD pass; the element is looked for only then.
 */
function refuseNewNonFinite(
  kernels: ElementwiseKernels, file: string, tensor: string, inputs: readonly PieceOperand[], out: PieceOperand, count: number, start: number, scale: number,
): void {
  if (!isFloatDtype(out.dtype) || !kernels.anyNonFinite(out.buffer, out.dtype, count)) return;
  const floatOperand = ({ buffer, dtype }: PieceOperand): { bytes: Uint8Array; dtype: FloatDtype } => ({ bytes: buffer.bytes, dtype: dtype as FloatDtype });
  const found = firstNewNonFinite(inputs.map(floatOperand), floatOperand(out), count);
  if (!found) return;
  const [c, r] = found.inputs;
  const formula = r === undefined ? `converting ${c} to ${out.dtype}` : `${c} + ${scale} * ${r}`;
  throw new SurgeonError('non-finite-result',
    `element ${start + found.index} would be ${found.result} in ${out.dtype} (${formula}) although the inputs are finite: `
    + `the scale ${scale} or the output dtype overflows; nothing was written`, file, tensor);
}

function compilePattern(pattern: string | undefined, flag: string): RegExp | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new SurgeonError('usage', `${flag} is not a valid regular expression: ${(error as Error).message}`);
  }
}
