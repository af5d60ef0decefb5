import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertUnchanged } from '../checkpoint/assert-unchanged';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import type { Dtype } from '../format/dtype';
import { DEFAULT_MAX_SHARD_BYTES } from '../format/safetensors-writer';
import { PROVENANCE_FILE } from '../io/existing-output';
import { createAtomicOutput } from '../io/atomic-output';
import { withJobKernels } from './job-kernels';
import { residualCardInput, renderModelCard } from '../report/model-card';
import { residualsConfig } from '../report/residuals-config';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import { DEFAULT_RESIDUAL_DTYPE, type ComputeOptions, type ComputeResult, type DryRunResult, type JobCallbacks, type ResidualDtype } from '../../shared/jobs';
import { runDeltaPass, tensorReport } from './delta-pass';
import { buildDiffReport, compareSides } from './diff-report';
import { dryRunResult } from './dry-run';
import { staleOutputIssues } from './stale-output-issues';
import { InputHashes } from './input-hashes';
import { openInputs } from './open-input';
import { pairTensors, type TensorPair } from './pair-tensors';
import { refuseOnErrors } from './plan-error';
import { refuseSameModel } from './same-model';
import { swappedInputsIssue } from './swapped-inputs';
import { computedResidualDtype, residualDtypeReason } from './requested-dtype';
import { ShardedOutput } from './sharded-output';
import { cancelled } from './tensor-stream';
import { vocabularyGrowth } from './vocabulary-growth';

export const REPORT_FILE = 'diff-report.json';

/**
 * R = instruct - base, tensor by tensor, with the statistics of the difference in the same pass. With
 * `dryRun` it stops after the plan and says what it would write.
 */
export async function runCompute(options: ComputeOptions & { dryRun: true }, callbacks?: JobCallbacks): Promise<DryRunResult>;
export async function runCompute(options: ComputeOptions & { dryRun?: false }, callbacks?: JobCallbacks): Promise<ComputeResult>;
export async function runCompute(options: ComputeOptions, callbacks?: JobCallbacks): Promise<ComputeResult | DryRunResult>;
export async function runCompute(options: ComputeOptions, callbacks: JobCallbacks = {}): Promise<ComputeResult | DryRunResult> {
  const started = performance.now();
  callbacks.onProgress?.({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const [base, instruct] = await openInputs([options.base, options.instruct] as const, callbacks);
  await refuseSameModel(base, instruct, callbacks.signal);
  const force = options.force === true;
  const pairing = pairTensors(base, instruct, {
    onlyInA: { severity: force ? 'warning' : 'error', resolution: 'the residual will not have it; apply copies the target\'s tensor unchanged' },
    onlyInB: { severity: force ? 'warning' : 'error', resolution: 'the base lacks it, so no residual can be computed for it' },
    resolveTiedHead: true,
  });
  const sides = await compareSides(base, instruct, force);
  const swapped = swappedInputsIssue(base, instruct, pairing.pairs, force);
  const issues = [...(swapped ? [swapped] : []), ...sides.issues, ...pairing.issues];
  refuseOnErrors(issues, () => buildDiffReport(options.base, options.instruct, pairing.pairs.map((pair) => tensorReport(pair)), sides));

  const written = pairing.pairs.filter((pair) => pair.comparable && pair.a && pair.b);
  const requested = options.dtype ?? DEFAULT_RESIDUAL_DTYPE;
  const dtypeOf = (pair: TensorPair): Dtype => residualDtype(pair, requested);
  const planned = written.map((pair) => ({ name: pair.name, dtype: dtypeOf(pair), shape: pair.shape }));
  if (options.dryRun) return dryRunResult('compute', options.out, { overwrite: options.overwrite === true, inputs: { base, instruct } }, issues, planned, options.shardSize ?? DEFAULT_MAX_SHARD_BYTES, started);
  let hashes: InputHashes | undefined;
  const output = await createAtomicOutput(options.out, { overwrite: options.overwrite === true, inputs: { base, instruct } });
  issues.push(...staleOutputIssues(output));
  try {
    const weights = await ShardedOutput.create(output.dir, planned, options.shardSize ?? DEFAULT_MAX_SHARD_BYTES);
    let tensors;
    await Promise.all([...base.files, ...instruct.files].map(assertUnchanged));
    hashes = InputHashes.start([base, instruct], callbacks.signal);
    const { inputReading } = hashes;
    try {
      tensors = await withJobKernels((kernels) => runDeltaPass(pairing.pairs, kernels, {
        ...callbacks, output: { weights, dtypeOf }, statistics: options.statistics !== false, inputReading,
      }));
    } catch (error) {
      await weights.discard();
      throw error;
    }
    const files = await weights.finish();
    callbacks.onProgress?.({ phase: 'finalize', bytesDone: 0, bytesTotal: 0, tensorsDone: tensors.length, tensorsTotal: tensors.length });
    const [baseHashes, instructHashes] = await hashes.provenance([base, instruct] as const);
    await Promise.all([...base.files, ...instruct.files].map(assertUnchanged));

    const report = buildDiffReport(options.base, options.instruct, tensors, sides);
    const growth = vocabularyGrowth(pairing.pairs, sides.tokenizerB);
    const createdAt = new Date();
    const residualTensors = planned;
    const result: ComputeResult = {
      kind: 'compute',
      out: output.target,
      dtype: dominantDtype(residualTensors.map((tensor) => tensor.dtype)),
      dtypeReason: residualDtypeReason(requested, written.filter((pair) => pair.arithmetic)
        .map((pair) => ({ base: pair.a!.dtype, instruct: pair.b!.dtype, residual: dtypeOf(pair) }))),
      tensors: residualTensors.length,
      parameters: residualTensors.reduce((sum, tensor) => sum + tensor.shape.reduce((p, d) => p * d, 1), 0),
      files,
      issues,
      vocabularyGrowth: growth,
      provenance: { base: baseHashes, instruct: instructHashes },
      report,
      seconds: 0,
    };

    const config = residualsConfig({
      tensors: residualTensors,
      tokenizerName: options.instruct,
      createdAt,
      baseModelName: options.base,
      instructModelName: options.instruct,
      baseModelRelation: 'adapter',
      ...(licenseOf(instruct) ? { license: licenseOf(instruct)! } : {}),
    });
    await writeFile(join(output.dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    // The instruct model's tokenizer and generation config travel with the residual, so it applies without the instruct model at hand.
    for (const name of instruct.sideFiles) await copyFile(join(instruct.root, name), join(output.dir, name));
    await writeFile(join(output.dir, PROVENANCE_FILE), `${JSON.stringify({
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      createdAt: createdAt.toISOString(),
      operation: 'compute',
      formula: 'R = instruct - base',
      base: { path: options.base, files: baseHashes, config: base.config ?? null },
      instruct: { path: options.instruct, files: instructHashes },
      dtype: result.dtype,
      dtypeReason: result.dtypeReason,
      output: files,
    }, null, 2)}\n`);
    await writeFile(join(output.dir, REPORT_FILE), `${JSON.stringify(report)}\n`);
    await writeFile(join(output.dir, 'README.md'), renderModelCard(residualCardInput({ ...result, out: output.target }, {
      createdAt,
      ...(licenseOf(instruct) ? { license: licenseOf(instruct)! } : {}),
    })));
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

/** Non-float pairs (copied from the instruct model) keep their dtype whatever `--dtype` says. */
function residualDtype(pair: TensorPair, requested: ResidualDtype): Dtype {
  return pair.arithmetic ? computedResidualDtype(pair.a!.dtype, pair.b!.dtype, requested) : pair.b!.dtype;
}

export function dominantDtype(dtypes: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const dtype of dtypes) counts.set(dtype, (counts.get(dtype) ?? 0) + 1);
  return [...counts.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] ?? 'F32';
}

function licenseOf(checkpoint: Checkpoint): string | undefined {
  const license = checkpoint.config?.['license'];
  return typeof license === 'string' ? license : undefined;
}
