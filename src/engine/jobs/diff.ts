import type { ElementwiseKernels } from '../kernels/kernels';
import { withJobKernels } from './job-kernels';
import type { DiffOptions, DiffResult, JobCallbacks } from '../../shared/jobs';
import { runDeltaPass } from './delta-pass';
import { buildDiffReport, compareSides } from './diff-report';
import { openInput, openInputs } from './open-input';
import { pairTensors, type TensorPair } from './pair-tensors';
import { checkSpectraRank, loadJsSpectraBackend, runSpectraPass, type SpectraBackendLoader } from './spectra-pass';
import type { DiffReport } from '../../shared/report';

/** What the host lends the job; the engine itself never loads onnxruntime-node. */
export interface DiffHost {
  /** Loads the spectral backend when options.spectra is set; the built-in products when absent. */
  loadSpectraBackend?: SpectraBackendLoader;
}

/**
 * Statistics of B - A for every tensor, the tokenizer and config diffs, in one streaming pass.
 * With A alone (a residual folder), the statistics describe the residual itself.
 */
export async function runDiff(options: DiffOptions, callbacks: JobCallbacks = {}, host: DiffHost = {}): Promise<DiffResult> {
  const started = performance.now();
  if (options.spectra) checkSpectraRank(options.spectraRank);
  callbacks.onProgress?.({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  if (options.b === undefined) {
    const residual = await openInput(options.a, callbacks);
    const pairs: TensorPair[] = [...residual.tensors.values()].map((ref) => ({
      name: ref.name, b: ref, status: 'changed', comparable: true, arithmetic: isArithmetic(ref.dtype), shape: ref.shape,
    }));
    const report = await withJobKernels(async (kernels) => {
      const tensors = await runDeltaPass(pairs, kernels, callbacks);
      const report = buildDiffReport(options.a, undefined, tensors, { config: null, tokenizer: null });
      await addSpectra(report, pairs, kernels, options, callbacks, host);
      return report;
    });
    return { kind: 'diff', report, seconds: (performance.now() - started) / 1000 };
  }
  const [a, b] = await openInputs([options.a, options.b] as const, callbacks);
  const sides = await compareSides(a, b, true);
  const { pairs } = pairTensors(a, b, {
    onlyInA: { severity: 'info', resolution: 'only in A' },
    onlyInB: { severity: 'info', resolution: 'only in B' },
    resolveTiedHead: true,
  });
  const report = await withJobKernels(async (kernels) => {
    const tensors = await runDeltaPass(pairs, kernels, callbacks);
    const report = buildDiffReport(options.a, options.b, tensors, sides);
    await addSpectra(report, pairs, kernels, options, callbacks, host);
    return report;
  });
  return { kind: 'diff', report, seconds: (performance.now() - started) / 1000 };
}

async function addSpectra(
  report: DiffReport, pairs: readonly TensorPair[], kernels: ElementwiseKernels, options: DiffOptions, callbacks: JobCallbacks, host: DiffHost,
): Promise<void> {
  if (!options.spectra) return;
  // The phase starts before the backend loads: onnxruntime-node can take a second, and hosts say which provider it chose.
  callbacks.onProgress?.({ phase: 'spectra', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const { backend, message } = await (host.loadSpectraBackend ?? loadJsSpectraBackend)(options.spectraBackend ?? 'auto');
  try {
    await runSpectraPass(pairs, report.tensors, backend, kernels, { rank: options.spectraRank, signal: callbacks.signal }, callbacks);
    report.spectraProvider = message;
  } finally {
    await backend.dispose?.();
  }
}

function isArithmetic(dtype: string): boolean {
  return dtype === 'F16' || dtype === 'BF16' || dtype === 'F32' || dtype === 'F64';
}
