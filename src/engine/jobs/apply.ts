import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertUnchanged } from '../checkpoint/assert-unchanged';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { SurgeonError } from '../errors';
import { TORCH_DTYPE_NAMES, bytesPerElement, isFloatDtype, type Dtype } from '../format/dtype';
import { DEFAULT_MAX_SHARD_BYTES } from '../format/safetensors-writer';
import { createAtomicOutput } from '../io/atomic-output';
import { withJobKernels } from './job-kernels';
import { diffConfigs } from '../report/config-diff';
import { appliedCardInput, renderModelCard } from '../report/model-card';
import { loadTokenizerFiles } from '../report/tokenizer-diff';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import type { ApplyOptions, ApplyResult, DryRunResult, JobCallbacks, PlanIssue, ResidualDtype } from '../../shared/jobs';
import type { DiffReport } from '../../shared/report';
import { PROVENANCE_FILE, REPORT_FILE, RESIDUAL_SIDE_FILES, dominantDtype } from './compute';
import { dryRunResult } from './dry-run';
import { InputHashes } from './input-hashes';
import { openInputs } from './open-input';
import { elementCount, pairTensors, rowElements, type TensorPair } from './pair-tensors';
import { refuseOnErrors } from './plan-error';
import { requestedDtype } from './requested-dtype';
import { ShardedOutput } from './sharded-output';
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
  if (!Number.isFinite(scale)) throw new SurgeonError('usage', `the scale must be a finite number, not ${scale}`);
  const include = compilePattern(options.include, '--include');
  const exclude = compilePattern(options.exclude, '--exclude');
  callbacks.onProgress?.({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const [target, residual] = await openInputs([options.base, options.residual] as const, callbacks);
  const force = options.force === true;

  const pairing = pairTensors(target, residual, {
    onlyInA: { severity: 'info', resolution: 'the residual has no such tensor; it is copied unchanged' },
    onlyInB: { severity: 'error', resolution: 'the residual changes a tensor the target does not have' },
    resolveTiedHead: true,
  });
  const issues: PlanIssue[] = [...await residualBaseCompatibility(target, residual, force), ...pairing.issues];
  refuseOnErrors(issues);

  const selected = (name: string): boolean => (!include || include.test(name)) && !(exclude?.test(name));
  const tasks: ApplyTask[] = pairing.pairs.filter((pair) => pair.a).map((pair) => ({
    pair,
    add: pair.comparable && pair.arithmetic && pair.b !== undefined && selected(pair.name),
  }));
  const untiesHead = tasks.some((task) => task.add && task.pair.tiedFrom !== undefined);
  const outputName = (task: ApplyTask): string => task.pair.name;
  const dtypeOf = (task: ApplyTask): Dtype => requestedDtype(task.pair.a!.dtype, options.dtype ?? 'same');
  const shapeOf = (task: ApplyTask): number[] => (task.add ? task.pair.shape : task.pair.a!.shape);
  const planned = tasks.map((task) => ({ name: outputName(task), dtype: dtypeOf(task), shape: shapeOf(task) }));
  if (options.dryRun) return dryRunResult('apply', options.out, options.overwrite === true, issues, planned, options.shardSize ?? DEFAULT_MAX_SHARD_BYTES, started);

  let hashes: InputHashes | undefined;
  const output = await createAtomicOutput(options.out, { overwrite: options.overwrite === true });
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
        processPiece({ task, count, inputs, output: out }) {
          const [c, r] = inputs;
          const outDtype = task.output!.dtype;
          const cDtype = task.operands[0]!.dtype;
          if (task.context.add) {
            kernels.addScaled(c!, cDtype, r!, task.operands[1]!.dtype, scale, out, outDtype, count);
          } else if (cDtype !== outDtype && isFloatDtype(cDtype)) {
            kernels.convert(c!, cDtype, out, outDtype, count);
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
      kind: 'apply', out: output.target, scale, tensors: tasks.length, applied, copiedUnchanged, files, issues, vocabularyGrowth: growth, seconds: 0,
    };

    if (target.config) {
      await writeFile(join(output.dir, 'config.json'), `${JSON.stringify(appliedConfig(target.config, tasks, options.dtype ?? 'same', untiesHead, dominantDtype(outDtypes)), null, 2)}\n`);
    }
    const sideSource = (name: string): string | undefined =>
      residual.layout !== 'file' && residual.sideFiles.includes(name) ? join(residual.root, name)
        : target.layout !== 'file' && target.sideFiles.includes(name) ? join(target.root, name) : undefined;
    for (const name of RESIDUAL_SIDE_FILES) {
      const source = sideSource(name);
      if (source) await copyFile(source, join(output.dir, name));
    }
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
function appliedConfig(config: Record<string, unknown>, tasks: readonly ApplyTask[], requested: ResidualDtype, untiesHead: boolean, dtype: string): Record<string, unknown> {
  const updated: Record<string, unknown> = { ...config };
  const grownRows = Math.max(0, ...tasks.filter((task) => task.add && task.pair.growth).map((task) => task.pair.growth!.toRows));
  if (grownRows > 0 && typeof updated['vocab_size'] === 'number' && grownRows > updated['vocab_size']) updated['vocab_size'] = grownRows;
  if (untiesHead) updated['tie_word_embeddings'] = false;
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

function compilePattern(pattern: string | undefined, flag: string): RegExp | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new SurgeonError('usage', `${flag} is not a valid regular expression: ${(error as Error).message}`);
  }
}
