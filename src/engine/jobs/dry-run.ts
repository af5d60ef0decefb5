import { refuseUnsafeOutput, type AtomicOutputOptions } from '../io/atomic-output';
import { planShards, type PlannedTensor } from '../format/safetensors-writer';
import type { DryRunFile, DryRunResult, PlanIssue } from '../../shared/jobs';
import { elementCount } from './pair-tensors';
import { outputFiles } from './sharded-output';

/**
 * The result of a plan that passed: every file the job would write, the weights laid out exactly as it
 * would (with their sizes; `ownWeights` where the job writes them itself), then the files it writes beside them (`sideFiles`, sizes unknown). An output
 * the job would refuse (one it may not replace, or one that overlaps an input) is refused here too.
 */
export async function dryRunResult(
  operation: DryRunResult['operation'], out: string, output: AtomicOutputOptions, issues: PlanIssue[],
  tensors: readonly PlannedTensor[], maxShardBytes: number, started: number, sideFiles: readonly string[] = [],
  ownWeights?: readonly DryRunFile[],
): Promise<DryRunResult> {
  const weights = ownWeights ?? outputFiles(planShards(tensors, maxShardBytes)).files;
  const written = new Set(weights.map((file) => file.file));
  const beside = [...new Set(sideFiles)].filter((name) => !written.has(name)).map((file) => ({ file }));
  await refuseUnsafeOutput(out, output);
  return {
    kind: 'dry-run',
    operation,
    out,
    issues,
    tensors: tensors.length,
    parameters: tensors.reduce((sum, tensor) => sum + elementCount(tensor.shape), 0),
    files: [...weights, ...beside],
    seconds: (performance.now() - started) / 1000,
  };
}
