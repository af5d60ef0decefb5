import { loadJobKernels } from './job-kernels';
import type { DiffOptions, DiffResult, JobCallbacks } from '../../shared/jobs';
import { runDeltaPass } from './delta-pass';
import { buildDiffReport, compareSides } from './diff-report';
import { openInput } from './open-input';
import { pairTensors, type TensorPair } from './pair-tensors';

/**
 * Statistics of B - A for every tensor, the tokenizer and config diffs, in one streaming pass.
 * With A alone (a residual folder), the statistics describe the residual itself.
 */
export async function runDiff(options: DiffOptions, callbacks: JobCallbacks = {}): Promise<DiffResult> {
  const started = performance.now();
  callbacks.onProgress?.({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const kernels = await loadJobKernels();
  if (options.b === undefined) {
    const residual = await openInput(options.a, callbacks);
    const pairs: TensorPair[] = [...residual.tensors.values()].map((ref) => ({
      name: ref.name, b: ref, status: 'changed', comparable: true, arithmetic: isArithmetic(ref.dtype), shape: ref.shape,
    }));
    const tensors = await runDeltaPass(pairs, kernels, callbacks);
    const report = buildDiffReport(options.a, undefined, tensors, { config: null, tokenizer: null });
    return { kind: 'diff', report, seconds: (performance.now() - started) / 1000 };
  }
  const [a, b] = await Promise.all([openInput(options.a, callbacks), openInput(options.b, callbacks)]);
  const sides = await compareSides(a, b, true);
  const { pairs } = pairTensors(a, b, {
    onlyInA: { severity: 'info', resolution: 'only in A' },
    onlyInB: { severity: 'info', resolution: 'only in B' },
    resolveTiedHead: true,
  });
  const tensors = await runDeltaPass(pairs, kernels, callbacks);
  const report = buildDiffReport(options.a, options.b, tensors, sides);
  return { kind: 'diff', report, seconds: (performance.now() - started) / 1000 };
}

function isArithmetic(dtype: string): boolean {
  return dtype === 'F16' || dtype === 'BF16' || dtype === 'F32' || dtype === 'F64';
}
