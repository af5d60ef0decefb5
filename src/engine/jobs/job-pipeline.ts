import { assertUnchanged } from '../checkpoint/assert-unchanged';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import type { PlannedTensor } from '../format/safetensors-writer';
import { DEFAULT_MAX_SHARD_BYTES } from '../../shared/defaults';
import { cancelledError } from '../errors';
import { createAtomicOutput } from '../io/atomic-output';
import type { ElementwiseKernels } from '../kernels/kernels';
import type { DryRunFile, DryRunResult, FileProvenance, JobCallbacks, OutputFile, PlanIssue } from '../../shared/jobs';
import type { DiffReport } from '../../shared/report';
import { dryRunResult } from './dry-run';
import { InputHashes } from './input-hashes';
import { withJobKernels } from './job-kernels';
import { openInputs } from './open-input';
import { refuseOnErrors } from './plan-error';
import { ShardedOutput } from './sharded-output';
import { staleOutputIssues } from './stale-output-issues';
import type { InputReading } from './tensor-stream';

/** A job's inputs by role ('base', 'instruct', ...; the names refusals use) as the user named them, opened in this order. */
export type InputSpecs = Readonly<Record<string, string>>;
export type Inputs<T extends InputSpecs> = { readonly [K in keyof T]: Checkpoint };

/** What a job found before reading any tensor data. */
interface PlanOutcome {
  /** Every problem found; any error refuses the job, listing them all. */
  issues: PlanIssue[];
  /** The report the refusal carries, built only for one. */
  refusalReport?: () => DiffReport;
}

/** A job that reads its inputs and writes nothing (verify). */
export interface ReadPlan<S, R> extends PlanOutcome {
  /** Streams the tensors through the job's kernels, once the plan passed. */
  stream(kernels: ElementwiseKernels): Promise<S>;
  result(streamed: S): R;
}

export interface OutputStream {
  weights: ShardedOutput;
  /** The temporary folder that becomes the output on commit, for a plan that writes its weights itself. */
  dir: string;
  /** Hands the hashing of the inputs what the stream reads (InputHashes). */
  inputReading: Promise<InputReading>;
}

export interface WrittenOutput<T extends InputSpecs> {
  /** The temporary folder that becomes `target` on commit: everything is written here. */
  dir: string;
  target: string;
  /** The tensors written, as `tensors()` planned them, and the files they are in. */
  tensors: readonly PlannedTensor[];
  files: OutputFile[];
  provenance: { readonly [K in keyof T]: FileProvenance[] };
}

/** A job that writes a checkpoint (compute, apply). */
export interface WritePlan<T extends InputSpecs, S, R> extends PlanOutcome {
  /** The output's tensors. Asked once the plan passed, so that nothing they need can fail before a refusal. */
  tensors(): readonly PlannedTensor[];
  /**
   * The stream writes the weights itself, once it has found their shapes (lora: the ranks come from the spectra);
   * `tensors()` is then the dry run's plan, at the largest shapes, and `dryRunFiles` the files it would write them to.
   */
  writesOwnWeights?: { dryRunFiles(): readonly DryRunFile[] };
  stream(kernels: ElementwiseKernels, output: OutputStream): Promise<S>;
  /**
   * The names of the files `finish` writes beside the weights (config.json, side files, provenance, card),
   * in the order it writes them: what a dry run lists after the weights.
   */
  sideFiles?(): readonly string[];
  /** Called once the weights are on disk, before the inputs' hashes are awaited. */
  weightsWritten?(streamed: S): void;
  /** Writes what goes beside the weights (config, side files, provenance, card) and returns the result. */
  finish(streamed: S, output: WrittenOutput<T>): Promise<R>;
}

export interface OutputOptions {
  out: string;
  overwrite?: boolean;
  shardSize?: number;
  dryRun?: boolean;
}

/** Opens the inputs, plans, refuses, then streams between two checks that no input file changed since it was opened. */
export async function runReadOnlyJob<T extends InputSpecs, S, R extends { seconds: number }>(
  specs: T, callbacks: JobCallbacks, plan: (inputs: Inputs<T>) => Promise<ReadPlan<S, R>> | ReadPlan<S, R>,
): Promise<R> {
  const started = performance.now();
  const { inputs, planned } = await openAndPlan(specs, callbacks, plan);
  await assertInputsUnchanged(inputs);
  const streamed = await withJobKernels((kernels) => planned.stream(kernels));
  await assertInputsUnchanged(inputs);
  const result = planned.result(streamed);
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/**
 * Opens the inputs, plans and refuses; with `dryRun` stops there and says what it would write. Otherwise
 * writes into an atomic output: the weights streamed while the inputs are hashed for provenance, with the
 * inputs checked unchanged before the stream and after the hashes, then `finish`, then the commit. A
 * failure or a Cancel anywhere before the commit leaves no output.
 */
export async function runWritingJob<T extends InputSpecs, S, R extends { seconds: number }>(
  job: { operation: DryRunResult['operation']; inputs: T; output: OutputOptions },
  callbacks: JobCallbacks,
  plan: (inputs: Inputs<T>) => Promise<WritePlan<T, S, R>>,
): Promise<R | DryRunResult> {
  const started = performance.now();
  const { inputs, planned } = await openAndPlan(job.inputs, callbacks, plan);
  const tensors = planned.tensors();
  const { out } = job.output;
  const outputOptions = { overwrite: job.output.overwrite === true, inputs };
  const shardBytes = job.output.shardSize ?? DEFAULT_MAX_SHARD_BYTES;
  if (job.output.dryRun) {
    return dryRunResult(job.operation, out, outputOptions, planned.issues, tensors, shardBytes, started, planned.sideFiles?.() ?? [],
      planned.writesOwnWeights?.dryRunFiles());
  }

  let hashes: InputHashes | undefined;
  const output = await createAtomicOutput(out, outputOptions);
  planned.issues.push(...staleOutputIssues(output));
  try {
    const weights = planned.writesOwnWeights ? ShardedOutput.none(output.dir) : await ShardedOutput.create(output.dir, tensors, shardBytes);
    await assertInputsUnchanged(inputs);
    hashes = InputHashes.start(checkpointsOf(inputs), callbacks.signal);
    const { inputReading } = hashes;
    let streamed: S;
    try {
      streamed = await withJobKernels((kernels) => planned.stream(kernels, { weights, dir: output.dir, inputReading }));
    } catch (error) {
      await weights.discard();
      throw error;
    }
    const files = await weights.finish();
    planned.weightsWritten?.(streamed);
    const digests = await hashes.provenance(checkpointsOf(inputs));
    await assertInputsUnchanged(inputs);
    const provenance = Object.fromEntries(Object.keys(inputs).map((role, index) => [role, digests[index]!])) as WrittenOutput<T>['provenance'];
    const result = await planned.finish(streamed, { dir: output.dir, target: output.target, tensors, files, provenance });
    // The last moment a Cancel can still leave no output: after the rename the job is done.
    if (callbacks.signal?.aborted) throw cancelledError();
    await output.commit();
    result.seconds = (performance.now() - started) / 1000;
    return result;
  } catch (error) {
    hashes?.stop();
    await output.abort();
    throw error;
  }
}

async function openAndPlan<T extends InputSpecs, P extends PlanOutcome>(
  specs: T, callbacks: JobCallbacks, plan: (inputs: Inputs<T>) => Promise<P> | P,
): Promise<{ inputs: Inputs<T>; planned: P }> {
  callbacks.onProgress?.({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const roles = Object.keys(specs);
  // compute, apply and verify dequantize the FP8 layouts docs/fp8.md lists; other quantized inputs are refused.
  const opened = await openInputs(roles.map((role) => specs[role]!), callbacks, { quantized: 'fp8' });
  const inputs = Object.fromEntries(roles.map((role, index) => [role, opened[index]!])) as Inputs<T>;
  const planned = await plan(inputs);
  refuseOnErrors(planned.issues, planned.refusalReport);
  return { inputs, planned };
}

function checkpointsOf(inputs: Inputs<InputSpecs>): Checkpoint[] {
  return Object.values(inputs);
}

async function assertInputsUnchanged(inputs: Inputs<InputSpecs>): Promise<void> {
  await Promise.all(checkpointsOf(inputs).flatMap((checkpoint) => checkpoint.files).map(assertUnchanged));
}
