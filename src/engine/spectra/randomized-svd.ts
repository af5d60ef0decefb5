import type { MatrixBackend } from './matrix-backend';
import { projectOntoRandomizedRange } from './range-finder';
import { symmetricEigenvalues } from './symmetric-eigenvalues';

/** Halko, Martinsson and Tropp (2011) recommend 5 to 10 extra samples; 10 costs little here. */
const DEFAULT_OVERSAMPLING = 10;
/**
 * Two power iterations sharpen the top singular values of slowly decaying spectra (residual
 * matrices are noise-like beyond their leading directions) at the price of four more products.
 */
const DEFAULT_POWER_ITERATIONS = 2;

export interface RandomizedSvdOptions {
  /** How many leading singular values to return (capped at min(rows, cols)). */
  rank: number;
  backend: MatrixBackend;
  seed: number;
  oversampling?: number;
  powerIterations?: number;
  signal?: AbortSignal;
}

/**
 * The leading singular values of a row-major float32 (rows x cols) matrix A, in descending order:
 * Q from the randomized range finder (see projectOntoRandomizedRange), and the singular values of
 * B = Q^T A as the square roots of the eigenvalues of the small Gram matrix B B^T, taken in f64.
 * When rank + oversampling reaches min(rows, cols), the result is exact up to rounding.
 */
export async function randomizedSingularValues(
  matrix: Float32Array,
  rows: number,
  cols: number,
  options: RandomizedSvdOptions,
): Promise<number[]> {
  const oversampling = options.oversampling ?? DEFAULT_OVERSAMPLING;
  const smallest = Math.min(rows, cols);
  const rank = Math.min(options.rank, smallest);
  const samples = Math.min(rank + oversampling, smallest);
  if (rank <= 0 || samples <= 0) return [];
  const { gram } = await projectOntoRandomizedRange(matrix, rows, cols, {
    samples,
    backend: options.backend,
    seed: options.seed,
    powerIterations: options.powerIterations ?? DEFAULT_POWER_ITERATIONS,
    signal: options.signal,
    work: 'the spectral statistics',
  });
  return symmetricEigenvalues(gram, samples)
    .slice(0, rank)
    .map((eigenvalue) => Math.sqrt(Math.max(0, eigenvalue)));
}
