import { refuseUnsafeOutput, type AtomicOutputOptions } from '../io/atomic-output';
import { planShards, type PlannedTensor } from '../format/safetensors-writer';
import type { DryRunResult, PlanIssue } from '../../shared/jobs';
import { elementCount } from './pair-tensors';
import { outputFiles } from './sharded-output';

/**
 * The result of a plan that passed: the files the job would write, laid out exactly as it would. An
 * output the job would refuse (one it may not replace, or one that overlaps an input) is refused here too.
 */
export async function dryRunResult(
  operation: DryRunResult['operation'], out: string, output: AtomicOutputOptions, issues: PlanIssue[],
  tensors: readonly PlannedTensor[], maxShardBytes: number, started: number,
): Promise<DryRunResult> {
  await refuseUnsafeOutput(out, output);
  return {
    kind: 'dry-run',
    operation,
    out,
    issues,
    tensors: tensors.length,
    parameters: tensors.reduce((sum, tensor) => sum + elementCount(tensor.shape), 0),
    files: outputFiles(planShards(tensors, maxShardBytes)).files,
    seconds: (performance.now() - started) / 1000,
  };
}
