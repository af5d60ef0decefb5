import type { TensorRef } from '../checkpoint/checkpoint-types';
import type { Fp8Weight } from '../checkpoint/fp8-scales';
import { cancelledError, isSurgeonError, SurgeonError } from '../errors';
import type { ElementwiseKernels } from '../kernels/kernels';
import { createBuiltInMatrixBackend } from '../spectra/built-in-matrix-backend';
import type { MatrixBackend } from '../spectra/matrix-backend';
import { fitsSpectralBudget, spectralStats } from '../spectra/spectral-stats';
import { DEFAULT_SPECTRA_PASS_RANK, MAX_SPECTRA_PASS_RANK } from '../../shared/defaults';
import type { JobCallbacks, SpectraBackendPreference } from '../../shared/jobs';
import type { TensorReport } from '../../shared/report';
import { DeltaMatrixReader } from './delta-matrix-reader';
import type { TensorPair } from './pair-tensors';

/** Refuses a rank the pass cannot honour, before any tensor is read. */
export function checkSpectraRank(rank: number | undefined): void {
  if (rank === undefined) return;
  if (!Number.isInteger(rank) || rank < 1 || rank > MAX_SPECTRA_PASS_RANK) {
    throw new SurgeonError('usage', `the spectra rank must be a whole number from 1 to ${MAX_SPECTRA_PASS_RANK}, not ${rank}`);
  }
}

export interface LoadedSpectraBackend {
  backend: MatrixBackend;
  /** What runs the pass, in words, for the log and the report. */
  message: string;
}

/**
 * Loads the backend of the pass. The engine never loads onnxruntime-node itself; hosts that may
 * (the CLI, the worker) pass src/spectra-backends/load-matrix-backend's loadMatrixBackend here.
 */
export type SpectraBackendLoader = (preference: SpectraBackendPreference) => Promise<LoadedSpectraBackend>;

/** The loader of a host that offers no onnxruntime-node: the built-in products, or a refusal for 'ort'. */
export const loadJsSpectraBackend: SpectraBackendLoader = async (preference) => {
  if (preference === 'ort') {
    throw new SurgeonError('usage', 'this host does not load onnxruntime-node; use the js or auto spectra backend');
  }
  const backend = createBuiltInMatrixBackend();
  return { backend, message: `Spectra on ${backend.provider}` };
};

export interface SpectraPassOptions {
  /** Leading singular values per matrix; min(DEFAULT_SPECTRA_PASS_RANK, rows, cols) when absent. */
  rank?: number;
  signal?: AbortSignal;
  /** The FP8 weights of either side with their scales (jobs/fp8-inputs.ts): read dequantized. */
  fp8?: ReadonlyMap<TensorRef, Fp8Weight>;
}

/** Whether the pass computes a spectrum for this pair: a non-empty 2-D float matrix, changed, finite, within the budget. */
function wantsSpectrum(pair: TensorPair, report: TensorReport | undefined): boolean {
  if (!pair.comparable || !pair.arithmetic || pair.shape.length !== 2 || pair.b === undefined) return false;
  if (report === undefined || report.status === 'unchanged' || (report.nonFinite ?? 0) > 0) return false;
  const [rows, cols] = pair.shape as [number, number];
  return rows > 0 && cols > 0 && fitsSpectralBudget(rows, cols);
}

/**
 * Attaches `spectra` to the report of every pair that wantsSpectrum, reading B - A again (widened
 * to f32, the smaller side grown with zero rows) one matrix at a time. A pair without side A is a
 * residual read alone. Returns the tensors that received a spectrum.
 */
export async function runSpectraPass(
  pairs: readonly TensorPair[],
  reports: readonly TensorReport[],
  backend: MatrixBackend,
  kernels: ElementwiseKernels,
  options: SpectraPassOptions = {},
  callbacks: Pick<JobCallbacks, 'onTensor' | 'onProgress'> = {},
): Promise<string[]> {
  const byName = new Map(reports.map((report) => [report.name, report]));
  const wanted = pairs.filter((pair) => wantsSpectrum(pair, byName.get(pair.name)));
  const bytesTotal = wanted.reduce((sum, pair) => sum + deltaBytes(pair), 0);
  let bytesDone = 0;
  const progress = (tensorsDone: number, tensor?: string): void =>
    callbacks.onProgress?.({ phase: 'spectra', bytesDone, bytesTotal, tensorsDone, tensorsTotal: wanted.length, ...(tensor !== undefined ? { tensor } : {}) });
  const storage = backend.matrixStorage?.bind(backend);
  const reader = new DeltaMatrixReader(kernels, { ...(storage ? { storage } : {}), ...(options.fp8 ? { fp8: options.fp8 } : {}) });
  const done: string[] = [];
  try {
    for (const [index, pair] of wanted.entries()) {
      const report = byName.get(pair.name)!;
      if (options.signal?.aborted) throw cancelledError('the spectral pass', undefined, pair.name);
      progress(index, pair.name);
      const [rows, cols] = pair.shape as [number, number];
      const delta = await reader.read(pair);
      const requested = Math.min(options.rank ?? DEFAULT_SPECTRA_PASS_RANK, rows, cols);
      try {
        const stats = await spectralStats(delta, rows, cols, { backend, k: requested, signal: options.signal, tensor: pair.name });
        report.spectra = {
          singularValues: stats.singularValues,
          frobeniusNorm: stats.frobeniusNorm,
          energyAtRank: stats.energyAtRank,
          effectiveRank: stats.effectiveRank,
          provider: stats.provider,
        };
        done.push(pair.name);
        callbacks.onTensor?.(report);
      } catch (error) {
        // Overflow in the f32 difference can create infinities the delta statistics did not see; such a matrix has no spectrum.
        if (!(isSurgeonError(error) && error.rule === 'non-finite-matrix')) throw error;
      }
      bytesDone += deltaBytes(pair);
    }
    progress(wanted.length);
  } finally {
    await reader.close();
  }
  return done;
}

/** Bytes of the f32 delta matrix: the unit of the pass's progress, roughly proportional to its work. */
function deltaBytes(pair: TensorPair): number {
  return pair.shape[0]! * pair.shape[1]! * Float32Array.BYTES_PER_ELEMENT;
}
