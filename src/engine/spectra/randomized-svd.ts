import { cancelledError } from '../errors';
import type { Float64Products, MatrixBackend } from './matrix-backend';
import { columnMajor, Float64Scratch, orthonormalColumns, orthonormalColumnsBlocked } from './orthonormalize';
import { seededGaussianMatrix } from './seeded-gaussian';
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
 * The leading singular values of a row-major float32 (rows x cols) matrix A, in descending order,
 * by randomized range finding with power iterations (Halko, Martinsson and Tropp, algorithm 4.4):
 * Q spans A @ Omega for a Gaussian Omega, refined by (A A^T)^q with re-orthonormalisation after
 * every product, and the singular values of B = Q^T A are those of the small Gram matrix
 * B B^T, whose eigenvalues are taken in f64. The products run on the backend in float32; every
 * orthonormalisation and the small eigenproblem run in f64. When rank + oversampling reaches
 * min(rows, cols), Q spans the whole range and the result is exact up to rounding.
 */
export async function randomizedSingularValues(
  matrix: Float32Array,
  rows: number,
  cols: number,
  options: RandomizedSvdOptions,
): Promise<number[]> {
  const { backend, signal } = options;
  const oversampling = options.oversampling ?? DEFAULT_OVERSAMPLING;
  const powerIterations = options.powerIterations ?? DEFAULT_POWER_ITERATIONS;
  const smallest = Math.min(rows, cols);
  const rank = Math.min(options.rank, smallest);
  const samples = Math.min(rank + oversampling, smallest);
  if (rank <= 0 || samples <= 0) return [];

  const aShape = [rows, cols] as const;
  const checkCancelled = (): void => {
    if (signal?.aborted) throw cancelledError('the spectral statistics');
  };

  // Only the last basis defines B = Q^T A, so only it gets the second Gram-Schmidt pass; the
  // others only carry the range from one product to the next.
  const passesFor = (isFinalBasis: boolean): 1 | 2 => (isFinalBasis ? 2 : 1);
  const products = backend.f64;
  const scratch = new Float64Scratch();
  const orthonormalize = async (panel: Float32Array, panelRows: number, passes: 1 | 2): Promise<Float32Array> =>
    products === undefined
      ? orthonormalColumns(panel, panelRows, samples, passes, scratch)
      : orthonormalColumnsBlocked(panel, panelRows, samples, passes, products, scratch);
  const omega = seededGaussianMatrix(cols, samples, options.seed);
  let basis = await orthonormalize(await backend.matmul(matrix, aShape, omega, [cols, samples]), rows, passesFor(powerIterations === 0));
  for (let iteration = 0; iteration < powerIterations; iteration++) {
    checkCancelled();
    const coBasis = await orthonormalize(await backend.matmul(matrix, aShape, basis, [rows, samples], true), cols, 1);
    checkCancelled();
    const product = await backend.matmul(matrix, aShape, coBasis, [cols, samples]);
    basis = await orthonormalize(product, rows, passesFor(iteration === powerIterations - 1));
  }
  checkCancelled();
  // B^T = A^T Q (cols x samples): B itself is never formed.
  const projectedTransposed = await backend.matmul(matrix, aShape, basis, [rows, samples], true);
  const gram = products === undefined
    ? gramOfColumns(projectedTransposed, cols, samples)
    : await gramOfColumnsWith(products, projectedTransposed, cols, samples, scratch);
  return symmetricEigenvalues(gram, samples)
    .slice(0, rank)
    .map((eigenvalue) => Math.sqrt(Math.max(0, eigenvalue)));
}

/**
 * M^T M in f64 for a row-major (rows x cols) float32 M, i.e. B B^T when M = B^T: the upper
 * triangle takes four rank-one updates per visit, which halves the time against one (the
 * triangle of a 266-column M outgrows the L2 cache), then is mirrored.
 */
function gramOfColumns(matrix: Float32Array, rows: number, cols: number): Float64Array {
  const gram = new Float64Array(cols * cols);
  const r0 = new Float64Array(cols);
  const r1 = new Float64Array(cols);
  const r2 = new Float64Array(cols);
  const r3 = new Float64Array(cols);
  for (let i = 0; i < rows; i += 4) {
    // Rows past the end read as zeros.
    for (let j = 0; j < cols; j++) {
      r0[j] = matrix[i * cols + j]!;
      r1[j] = i + 1 < rows ? matrix[(i + 1) * cols + j]! : 0;
      r2[j] = i + 2 < rows ? matrix[(i + 2) * cols + j]! : 0;
      r3[j] = i + 3 < rows ? matrix[(i + 3) * cols + j]! : 0;
    }
    for (let a = 0; a < cols; a++) {
      const s0 = r0[a]!;
      const s1 = r1[a]!;
      const s2 = r2[a]!;
      const s3 = r3[a]!;
      const offset = a * cols;
      for (let b = a; b < cols; b++) gram[offset + b] = gram[offset + b]! + s0 * r0[b]! + s1 * r1[b]! + s2 * r2[b]! + s3 * r3[b]!;
    }
  }
  for (let a = 0; a < cols; a++) {
    for (let b = 0; b < a; b++) gram[a * cols + b] = gram[b * cols + a]!;
  }
  return gram;
}

/** gramOfColumns on the backend's f64 products: M^T M = (M^T)(M^T)^T, with M^T formed in f64 first. */
async function gramOfColumnsWith(
  products: Float64Products, matrix: Float32Array, rows: number, cols: number, scratch: Float64Scratch,
): Promise<Float64Array> {
  const transposed = columnMajor(matrix, rows, cols, scratch);
  return products.timesTransposed(transposed, cols, transposed, cols, rows);
}
