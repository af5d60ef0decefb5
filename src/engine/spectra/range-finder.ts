import { cancelledError } from '../errors';
import type { Float64Products, MatrixBackend } from './matrix-backend';
import { columnMajor, Float64Scratch, orthonormalColumns, orthonormalColumnsBlocked } from './orthonormalize';
import { seededGaussianMatrix } from './seeded-gaussian';

export interface RangeFinderOptions {
  /** Columns of the basis: the rank sought plus the oversampling, at most min(rows, cols). */
  samples: number;
  backend: MatrixBackend;
  seed: number;
  powerIterations: number;
  signal?: AbortSignal;
  /** The work a cancellation stops, as the cancelled error names it. */
  work: string;
  /** Named in the cancelled error. */
  tensor?: string;
}

/** A row-major float32 (rows x cols) matrix A seen through an orthonormal basis Q of its leading range. */
export interface ProjectedRange {
  /** Q, rows x samples, row-major: orthonormal columns, or zero ones where A Omega was rank deficient. */
  basis: Float32Array;
  /** B^T = A^T Q, cols x samples, row-major: B = Q^T A itself is never formed. */
  projectedTransposed: Float32Array;
  /** B B^T in f64, samples x samples, row-major: its eigenvalues are the squared singular values of B. */
  gram: Float64Array;
}

/** Orthonormalises a row-major float32 panel's columns (see orthonormalColumns), with the backend's f64 products where it has them. */
export type PanelOrthonormalizer = (panel: Float32Array, rows: number, cols: number, passes: 1 | 2) => Promise<Float32Array>;

export function panelOrthonormalizer(backend: MatrixBackend, scratch = new Float64Scratch()): PanelOrthonormalizer {
  const products = backend.f64;
  return async (panel, rows, cols, passes) => products === undefined
    ? orthonormalColumns(panel, rows, cols, passes, scratch)
    : orthonormalColumnsBlocked(panel, rows, cols, passes, products, scratch);
}

/**
 * Randomized range finding with power iterations (Halko, Martinsson and Tropp 2011, algorithm
 * 4.4): Q spans A @ Omega for a Gaussian Omega, refined by (A A^T)^q with re-orthonormalisation
 * after every product; then B^T = A^T Q and the Gram matrix B B^T. The products run on the
 * backend in float32; every orthonormalisation and the Gram matrix run in f64. When `samples`
 * reaches min(rows, cols), Q spans the whole range and B carries all of A up to rounding.
 */
export async function projectOntoRandomizedRange(
  matrix: Float32Array,
  rows: number,
  cols: number,
  options: RangeFinderOptions,
): Promise<ProjectedRange> {
  const { backend, samples, powerIterations, signal } = options;
  const aShape = [rows, cols] as const;
  const checkCancelled = (): void => {
    if (signal?.aborted) throw cancelledError(options.work, undefined, options.tensor);
  };

  // Only the last basis defines B = Q^T A, so only it gets the second Gram-Schmidt pass; the
  // others only carry the range from one product to the next.
  const passesFor = (isFinalBasis: boolean): 1 | 2 => (isFinalBasis ? 2 : 1);
  const scratch = new Float64Scratch();
  const orthonormalize = panelOrthonormalizer(backend, scratch);
  const omega = seededGaussianMatrix(cols, samples, options.seed);
  let basis = await orthonormalize(await backend.matmul(matrix, aShape, omega, [cols, samples]), rows, samples, passesFor(powerIterations === 0));
  for (let iteration = 0; iteration < powerIterations; iteration++) {
    checkCancelled();
    const coBasis = await orthonormalize(await backend.matmul(matrix, aShape, basis, [rows, samples], true), cols, samples, 1);
    checkCancelled();
    const product = await backend.matmul(matrix, aShape, coBasis, [cols, samples]);
    basis = await orthonormalize(product, rows, samples, passesFor(iteration === powerIterations - 1));
  }
  checkCancelled();
  const projectedTransposed = await backend.matmul(matrix, aShape, basis, [rows, samples], true);
  const products = backend.f64;
  const gram = products === undefined
    ? gramOfColumns(projectedTransposed, cols, samples)
    : await gramOfColumnsWith(products, projectedTransposed, cols, samples, scratch);
  return { basis, projectedTransposed, gram };
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
