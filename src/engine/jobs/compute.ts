import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertUnchanged } from '../checkpoint/assert-unchanged';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import type { Dtype } from '../format/dtype';
import { DEFAULT_MAX_SHARD_BYTES } from '../format/safetensors-writer';
import { createAtomicOutput } from '../io/atomic-output';
import { withJobKernels } from './job-kernels';
import { residualCardInput, renderModelCard } from '../report/model-card';
import { residualsConfig } from '../report/residuals-config';
import { TOOL_NAME, TOOL_VERSION } from '../version';
import { DEFAULT_RESIDUAL_DTYPE, type ComputeOptions, type ComputeResult, type DryRunResult, type JobCallbacks, type ResidualDtype } from '../../shared/jobs';
import { runDeltaPass, tensorReport } from './delta-pass';
import { buildDiffReport, compareSides } from './diff-report';
import { dryRunResult } from './dry-run';
import { InputHashes } from './input-hashes';
import { openInputs } from './open-input';
import { pairTensors, type TensorPair } from './pair-tensors';
import { refuseOnErrors } from './plan-error';
import { requestedDtype } from './requested-dtype';
import { ShardedOutput } from './sharded-output';
import { cancelled } from './tensor-stream';
import { vocabularyGrowth } from './vocabulary-growth';

/** Files of the instruct model a residual folder carries, so it can be applied without the instruct model at hand. */
export const RESIDUAL_SIDE_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'chat_template.jinja',
  'added_tokens.json', 'vocab.json', 'merges.txt', 'generation_config.json',
];

export const PROVENANCE_FILE = 'provenance.json';
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
  const force = options.force === true;
  const pairing = pairTensors(base, instruct, {
    onlyInA: { severity: force ? 'warning' : 'error', resolution: 'the residual will not have it; apply copies the target\'s tensor unchanged' },
    onlyInB: { severity: force ? 'warning' : 'error', resolution: 'the base lacks it, so no residual can be computed for it' },
    resolveTiedHead: true,
  });
  const sides = await compareSides(base, instruct, force);
  const issues = [...sides.issues, ...pairing.issues];
  refuseOnErrors(issues, () => buildDiffReport(options.base, options.instruct, pairing.pairs.map((pair) => tensorReport(pair)), sides));

  const written = pairing.pairs.filter((pair) => pair.comparable && pair.a && pair.b);
  const dtypeOf = (pair: TensorPair): Dtype => residualDtype(pair, options.dtype ?? DEFAULT_RESIDUAL_DTYPE);
  const planned = written.map((pair) => ({ name: pair.name, dtype: dtypeOf(pair), shape: pair.shape }));
  if (options.dryRun) return dryRunResult('compute', options.out, options.overwrite === true, issues, planned, options.shardSize ?? DEFAULT_MAX_SHARD_BYTES, started);
  let hashes: InputHashes | undefined;
  const output = await createAtomicOutput(options.out, { overwrite: options.overwrite === true });
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
    for (const name of RESIDUAL_SIDE_FILES) {
      if (instruct.sideFiles.includes(name)) await copyFile(join(instruct.root, name), join(output.dir, name));
    }
    await writeFile(join(output.dir, PROVENANCE_FILE), `${JSON.stringify({
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      createdAt: createdAt.toISOString(),
      operation: 'compute',
      formula: 'R = instruct - base',
      base: { path: options.base, files: baseHashes, config: base.config ?? null },
      instruct: { path: options.instruct, files: instructHashes },
      dtype: result.dtype,
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
  return pair.arithmetic ? requestedDtype(pair.b!.dtype, requested) : pair.b!.dtype;
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
