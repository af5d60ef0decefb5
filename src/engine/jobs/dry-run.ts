import { resolve } from 'node:path';
import { refuseExistingOutput } from '../io/atomic-output';
import { encodeIndex, planShards, INDEX_FILE_NAME, type PlannedTensor } from '../format/safetensors-writer';
import type { DryRunResult, PlanIssue } from '../../shared/jobs';

/**
 * The result of a plan that passed: the files the job would write, laid out exactly as it would. An
 * output the job would refuse to replace is refused here too.
 */
export async function dryRunResult(
  operation: DryRunResult['operation'], out: string, overwrite: boolean, issues: PlanIssue[],
  tensors: readonly PlannedTensor[], maxShardBytes: number, started: number,
): Promise<DryRunResult> {
  await refuseExistingOutput(resolve(out), overwrite);
  const plans = planShards(tensors, maxShardBytes);
  const files = plans.map((plan) => ({ file: plan.fileName, bytes: plan.header.byteLength + plan.dataBytes }));
  if (plans.length > 1) {
    const index = encodeIndex(plans, plans.reduce((sum, plan) => sum + plan.dataBytes, 0));
    files.push({ file: INDEX_FILE_NAME, bytes: Buffer.byteLength(index) });
  }
  return {
    kind: 'dry-run',
    operation,
    out,
    issues,
    tensors: tensors.length,
    parameters: tensors.reduce((sum, tensor) => sum + tensor.shape.reduce((product, dimension) => product * dimension, 1), 0),
    files,
    seconds: (performance.now() - started) / 1000,
  };
}
