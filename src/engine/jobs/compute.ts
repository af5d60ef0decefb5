import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import type { Dtype } from '../format/dtype';
import type { PlannedTensor } from '../format/safetensors-writer';
import { PROVENANCE_FILE, writeProvenance } from '../io/provenance-file';
import { residualCardInput, renderModelCard } from '../report/model-card';
import { residualsConfig } from '../report/residuals-config';
import { DEFAULT_RESIDUAL_DTYPE, type ComputeOptions, type ComputeResult, type DryRunResult, type JobCallbacks, type ResidualDtype } from '../../shared/jobs';
import type { TensorReport } from '../../shared/report';
import { runDeltaPass, tensorReport } from './delta-pass';
import { dequantizedView, fp8WeightsOf } from './fp8-inputs';
import { buildDiffReport, checkpointRef, compareSides } from './diff-report';
import { runWritingJob, type Inputs, type WritePlan } from './job-pipeline';
import { pairTensors, type TensorPair } from './pair-tensors';
import { refuseSameModel } from './same-model';
import { swappedInputsIssue } from './swapped-inputs';
import { computedResidualDtype, residualDtypeReason } from './requested-dtype';
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
  const inputs = { base: options.base, instruct: options.instruct };
  return runWritingJob({ operation: 'compute', inputs, output: options }, callbacks, (opened) => planCompute(options, callbacks, opened));
}

type ComputeSpecs = { base: string; instruct: string };
type ComputeInputs = Inputs<ComputeSpecs>;

async function planCompute(
  options: ComputeOptions, callbacks: JobCallbacks, { base, instruct }: ComputeInputs,
): Promise<WritePlan<ComputeSpecs, TensorReport[], ComputeResult>> {
  await refuseSameModel(base, instruct, callbacks.signal);
  const force = options.force === true;
  // FP8 weights pair with each other or with float weights, their scales travelling with them (docs/fp8.md).
  const baseView = dequantizedView(base);
  const instructView = dequantizedView(instruct);
  const fp8 = fp8WeightsOf(baseView, instructView);
  const pairing = pairTensors(baseView.checkpoint, instructView.checkpoint, {
    onlyInA: { severity: force ? 'warning' : 'error', resolution: 'the residual will not have it; apply copies the target\'s tensor unchanged' },
    onlyInB: { severity: force ? 'warning' : 'error', resolution: 'the base lacks it, so no residual can be computed for it' },
    resolveTiedHead: true,
  });
  const sides = await compareSides(base, instruct, force);
  const swapped = swappedInputsIssue(base, instruct, pairing.pairs, force);
  const issues = [...(swapped ? [swapped] : []), ...sides.issues, ...pairing.issues];

  const written = pairing.pairs.filter((pair) => pair.comparable && pair.a && pair.b);
  const requested = options.dtype ?? DEFAULT_RESIDUAL_DTYPE;
  const dtypeOf = (pair: TensorPair): Dtype => residualDtype(pair, requested);
  return {
    issues,
    refusalReport: () => buildDiffReport(options.base, options.instruct, pairing.pairs.map((pair) => tensorReport(pair)), sides),
    tensors: () => written.map((pair) => ({ name: pair.name, dtype: dtypeOf(pair), shape: pair.shape })),
    stream: (kernels, { weights, inputReading }) => runDeltaPass(pairing.pairs, kernels, {
      ...callbacks, output: { weights, dtypeOf }, statistics: options.statistics !== false, inputReading, fp8,
    }),
    sideFiles: () => ['config.json', ...instruct.sideFiles, PROVENANCE_FILE, REPORT_FILE, 'README.md'],
    weightsWritten: (reports) => callbacks.onProgress?.({ phase: 'finalize', bytesDone: 0, bytesTotal: 0, tensorsDone: reports.length, tensorsTotal: reports.length }),
    async finish(reports, output) {
      const report = buildDiffReport(options.base, options.instruct, reports, sides);
      const createdAt = new Date();
      const residualTensors = output.tensors;
      const result: ComputeResult = {
        kind: 'compute',
        out: output.target,
        dtype: dominantDtype(residualTensors.map((tensor) => tensor.dtype)),
        dtypeReason: residualDtypeReason(requested, written.filter((pair) => pair.arithmetic)
          .map((pair) => ({ base: pair.a!.dtype, instruct: pair.b!.dtype, residual: dtypeOf(pair) }))),
        tensors: residualTensors.length,
        parameters: residualTensors.reduce((sum, tensor) => sum + tensor.shape.reduce((p, d) => p * d, 1), 0),
        files: output.files,
        issues,
        vocabularyGrowth: vocabularyGrowth(pairing.pairs, sides.tokenizerB),
        provenance: output.provenance,
        report,
        seconds: 0,
      };
      await writeResidualFolder(output.dir, options, { base, instruct }, result, createdAt, residualTensors);
      return result;
    },
  };
}

/** Beside the residual's weights: its config, the instruct model's side files, provenance, the diff report and the model card. */
async function writeResidualFolder(
  dir: string, options: ComputeOptions, { base, instruct }: ComputeInputs, result: ComputeResult, createdAt: Date, tensors: readonly PlannedTensor[],
): Promise<void> {
  const license = licenseOf(instruct);
  const config = residualsConfig({
    tensors,
    tokenizerName: options.instruct,
    createdAt,
    baseModelName: options.base,
    instructModelName: options.instruct,
    baseModelRelation: 'adapter',
    ...(license ? { license } : {}),
  });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  // The instruct model's tokenizer and generation config travel with the residual, so it applies without the instruct model at hand.
  for (const name of instruct.sideFiles) await copyFile(join(instruct.root, name), join(dir, name));
  await writeProvenance(dir, {
    createdAt: createdAt.toISOString(),
    operation: 'compute',
    formula: 'R = instruct - base',
    base: { ...checkpointRef(base), files: result.provenance.base, config: base.config ?? null },
    instruct: { ...checkpointRef(instruct), files: result.provenance.instruct },
    dtype: result.dtype,
    dtypeReason: result.dtypeReason,
    output: result.files,
  });
  await writeFile(join(dir, REPORT_FILE), `${JSON.stringify(result.report)}\n`);
  await writeFile(join(dir, 'README.md'), renderModelCard(residualCardInput(result, { createdAt, ...(license ? { license } : {}) })));
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
