import type { ElementwiseKernels } from '../kernels/kernels';
import { withJobKernels } from './job-kernels';
import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import type { Fp8Weight } from '../checkpoint/fp8-scales';
import { parseTensorName } from '../report/layer-names';
import type { DiffOptions, DiffResult, JobCallbacks, PlanIssue } from '../../shared/jobs';
import { runDeltaPass } from './delta-pass';
import { buildDiffReport, checkpointRef, compareSides, type SideComparison } from './diff-report';
import { dequantizedView, fp8WeightsOf, reportQuantizations } from './fp8-inputs';
import { openInput, openInputs } from './open-input';
import { isArithmeticDtype, pairTensors, type TensorPair } from './pair-tensors';
import { checkSpectraRank, loadJsSpectraBackend, runSpectraPass, type SpectraBackendLoader } from './spectra-pass';
import type { DiffReport, TensorReport } from '../../shared/report';

/** What the host lends the job; the engine itself never loads onnxruntime-node. */
export interface DiffHost {
  /** Loads the spectral backend when options.spectra is set; the built-in products when absent. */
  loadSpectraBackend?: SpectraBackendLoader;
}

/**
 * Statistics of B - A for every tensor, the tokenizer and config diffs, in one streaming pass.
 * With A alone (a residual folder), the statistics describe the residual itself. A side whose weights
 * are not there (Git LFS pointers, shards not downloaded, configs alone) still gives the config and
 * tokenizer diffs: its tensors are listed as the index names them, with no statistics, and a warning says why.
 * FP8 checkpoints in the layouts compute reads (docs/fp8.md) are compared as compute compares them: each FP8 weight
 * dequantized with its scales, the statistics those of the binary32 delta; the report says which sides were FP8.
 */
export async function runDiff(options: DiffOptions, callbacks: JobCallbacks = {}, host: DiffHost = {}): Promise<DiffResult> {
  const started = performance.now();
  if (options.spectra) checkSpectraRank(options.spectraRank);
  callbacks.onProgress?.({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const { pairs, sides, absent, fp8 } = options.b === undefined
    ? await residualAlone(options.a, callbacks) : await pairedSides(options.a, options.b, callbacks);
  if (absent) {
    return { kind: 'diff', report: buildDiffReport(options.a, options.b, absent.tensors, sides), issues: absent.issues, seconds: (performance.now() - started) / 1000 };
  }
  const report = await withJobKernels(async (kernels) => {
    const tensors = await runDeltaPass(pairs, kernels, { ...callbacks, fp8 });
    const report = buildDiffReport(options.a, options.b, tensors, sides);
    await addSpectra(report, pairs, fp8, kernels, options, callbacks, host);
    return report;
  });
  return { kind: 'diff', report, seconds: (performance.now() - started) / 1000 };
}

type DiffSides = Pick<SideComparison, 'config' | 'tokenizer' | 'refs' | 'quantization'>;

/** What a diff says when a side's weights are not there: the tensors as the indexes name them, and why. */
interface AbsentWeights {
  tensors: TensorReport[];
  issues: PlanIssue[];
}

interface DiffPlan {
  pairs: TensorPair[];
  sides: DiffSides;
  /** The FP8 weights of either side with their scales (jobs/fp8-inputs.ts); empty when neither is FP8. */
  fp8: ReadonlyMap<TensorRef, Fp8Weight>;
  absent?: AbsentWeights;
}

/**
 * A residual examined alone: every tensor is side B, against zeros. Residuals hold no FP8 weights; a checkpoint that
 * does (a model examined alone) is read dequantized, as in a pair.
 */
async function residualAlone(path: string, callbacks: JobCallbacks): Promise<DiffPlan> {
  const residual = await openInput(path, callbacks, { weights: 'optional', quantized: 'fp8' });
  const view = dequantizedView(residual);
  const quantization = reportQuantizations(view, undefined);
  const sides: DiffSides = { config: null, tokenizer: null, refs: { a: checkpointRef(residual) }, ...(quantization ? { quantization } : {}) };
  const fp8 = fp8WeightsOf(view);
  if (residual.missingWeights) return { pairs: [], sides, fp8, absent: absentWeights(undefined, residual) };
  const pairs: TensorPair[] = [...view.checkpoint.tensors.values()].map((ref) => ({
    name: ref.name, b: ref, status: 'changed', comparable: true, arithmetic: isArithmeticDtype(ref.dtype), shape: ref.shape,
  }));
  return { pairs, sides, fp8 };
}

async function pairedSides(a: string, b: string, callbacks: JobCallbacks): Promise<DiffPlan> {
  // The FP8 layouts compute reads are read here too (docs/fp8.md); other quantized checkpoints are refused.
  const [checkpointA, checkpointB] = await openInputs([a, b] as const, callbacks, { weights: 'optional', quantized: 'fp8' });
  const sides = await compareSides(checkpointA, checkpointB, true);
  // FP8 weights pair with each other or with float weights, their scales travelling with them, exactly as in compute.
  const viewA = dequantizedView(checkpointA);
  const viewB = dequantizedView(checkpointB);
  const fp8 = fp8WeightsOf(viewA, viewB);
  if (checkpointA.missingWeights || checkpointB.missingWeights) return { pairs: [], sides, fp8, absent: absentWeights(checkpointA, checkpointB) };
  const { pairs } = pairTensors(viewA.checkpoint, viewB.checkpoint, {
    onlyInA: { severity: 'info', resolution: 'only in A' },
    onlyInB: { severity: 'info', resolution: 'only in B' },
    resolveTiedHead: true,
  });
  return { pairs, sides, fp8 };
}

async function addSpectra(
  report: DiffReport, pairs: readonly TensorPair[], fp8: ReadonlyMap<TensorRef, Fp8Weight>, kernels: ElementwiseKernels,
  options: DiffOptions, callbacks: JobCallbacks, host: DiffHost,
): Promise<void> {
  if (!options.spectra) return;
  // The phase starts before the backend loads: onnxruntime-node can take a second, and hosts say which provider it chose.
  callbacks.onProgress?.({ phase: 'spectra', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const { backend, message } = await (host.loadSpectraBackend ?? loadJsSpectraBackend)(options.spectraBackend ?? 'auto');
  try {
    await runSpectraPass(pairs, report.tensors, backend, kernels, { rank: options.spectraRank, signal: callbacks.signal, fp8 }, callbacks);
    report.spectraProvider = message;
  } finally {
    await backend.dispose?.();
  }
}

/**
 * The tensors of two checkpoints when one of them (or both) has no usable weights: no statistics are
 * computed, since a diff of the shards that are there would pass for the whole model. A tensor one side
 * names and the other does not is only-in-a or only-in-b; one both sides name cannot be compared and is
 * left out of the table, counted in the warning. `a` undefined: a residual examined alone (side B).
 */
function absentWeights(a: Checkpoint | undefined, b: Checkpoint): AbsentWeights {
  const namesOf = (checkpoint: Checkpoint): Map<string, string> => checkpoint.indexedTensors
    ?? new Map([...checkpoint.tensors.values()].map((ref) => [ref.name, ref.file.name]));
  const namedA = a ? namesOf(a) : new Map<string, string>();
  const namedB = namesOf(b);
  const tensors: TensorReport[] = [];
  const listed = (name: string, status: 'only-in-a' | 'only-in-b', side: Checkpoint, shard: string): void => {
    const location = parseTensorName(name);
    const missing = side.missingWeights?.find((file) => file.file === shard);
    tensors.push({
      name, status, layer: location.layer, module: location.module,
      resolution: missing ? `not compared: its shard ${shard} ${missingWords(missing.reason)}` : 'not compared: the other side holds no weights',
    });
  };
  for (const [name, shard] of namedB) if (!namedA.has(name)) listed(name, 'only-in-b', b, shard);
  if (a) for (const [name, shard] of namedA) if (!namedB.has(name)) listed(name, 'only-in-a', a, shard);
  const both = [...namedA.keys()].filter((name) => namedB.has(name)).length;
  const issues: PlanIssue[] = [];
  const sides: Array<[string, Checkpoint | undefined]> = a ? [['A', a], ['B', b]] : [['the residual', b]];
  for (const [label, side] of sides) {
    if (!side?.missingWeights) continue;
    issues.push({ severity: 'warning', rule: 'weights-not-present', file: side.root, message: weightsWarning(label, side) });
  }
  issues.push({
    severity: 'warning', rule: 'weights-not-compared',
    message: `no tensor statistics: the weights are not all present${both > 0 ? `; the ${both} tensors both sides name are not compared` : ''}; `
      + 'the config and tokenizer diffs stand',
  });
  return { tensors, issues };
}

function weightsWarning(label: string, side: Checkpoint): string {
  const missing = side.missingWeights ?? [];
  if (missing.some((file) => file.reason === 'no-weights')) return `${label} holds no weights (${side.root}): configs and tokenizer only`;
  const shards = new Set(side.indexedTensors?.values() ?? []).size || missing.length;
  const pointers = missing.filter((file) => file.reason === 'lfs-pointer').map((file) => file.file);
  const absent = missing.filter((file) => file.reason === 'missing').map((file) => file.file);
  const parts = [
    ...(pointers.length > 0 ? [`Git LFS pointers: ${pointers.join(', ')}`] : []),
    ...(absent.length > 0 ? [`not downloaded: ${absent.join(', ')}`] : []),
  ];
  return `${label}: ${missing.length} of ${shards} weight ${shards === 1 ? 'file is' : 'files are'} not present (${parts.join('; ')})`
    + `${pointers.length > 0 ? '; run `git lfs pull` to fetch them' : ''}`;
}

function missingWords(reason: 'lfs-pointer' | 'missing' | 'no-weights'): string {
  return reason === 'lfs-pointer' ? 'is a Git LFS pointer' : reason === 'missing' ? 'is not downloaded' : 'is not present';
}
