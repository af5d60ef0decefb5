import { cancelledError, SurgeonError } from '../errors';
import type { MatrixBackend } from './matrix-backend';
import { panelOrthonormalizer, projectOntoRandomizedRange } from './range-finder';
import { sumOfSquares } from './spectral-stats';
import { symmetricEigensystem } from './symmetric-eigenvalues';

/**
 * Defaults set by the error of the factors, a harder target than the leading values the spectral
 * pass wants. On residual-like spectra (s_i ~ i^-alpha with alpha 0.3 to 1, alone or under a
 * Marchenko-Pastur noise bulk holding 30-80% of the energy) in 1024 x 1024, 2048 x 2048 and
 * 3584 x 1024 matrices, the rank-r error ||A - U S V^T||_F exceeded the Eckart-Young optimum
 * sqrt(sum_{i>r} s_i^2) by at most:
 *
 *   samples           q   r = 16   r = 64   r = 256
 *   r + 10            2   0.37%    1.30%    3.5%
 *   r + 10            3   0.18%    0.79%    1.9%
 *   r + max(10, r/2)  3   0.18%    0.52%    0.55%
 *   r + max(10, r/2)  4   0.09%    0.31%    0.28%
 *
 * What slows convergence is the flat stretch of the spectrum around r, and a larger r reaches
 * further into it, so the oversampling grows with r. Three iterations with max(10, r/2) extra
 * samples keep every case within about half of the 1% allowed, for 1.7 times the products of the
 * spectral pass's defaults at r = 64. truncated-svd.slow.test.ts holds the hardest cases to it.
 */
const DEFAULT_POWER_ITERATIONS = 3;
const defaultOversampling = (rank: number): number => Math.max(10, Math.ceil(rank / 2));
const DEFAULT_SEED = 0x5eed;

/**
 * Singular values at or below this share of ||A||_F are rounding noise of the float32 products
 * (2^-24 per element): their directions are not determined, so they are reported as 0 with zero
 * vectors. Dropping one moves the reconstruction by at most 2^-20 ||A||_F.
 */
const NOISE_FLOOR = 2 ** -20;

export interface TruncatedSvdOptions {
  /** Leading singular triplets to compute (capped at min(rows, cols)). */
  rank: number;
  backend: MatrixBackend;
  /** Seed of the Gaussian test matrix; the same seed gives the same bits. */
  seed?: number;
  oversampling?: number;
  powerIterations?: number;
  signal?: AbortSignal;
  /** Named in errors. */
  tensor?: string;
}

/** A ≈ U diag(s) V^T for a row-major float32 (rows x cols) matrix A. */
export interface TruncatedSvd {
  rows: number;
  cols: number;
  /** min(rank, rows, cols). */
  k: number;
  /** Descending, k of them; 0 for the directions below the noise floor. */
  singularValues: number[];
  /** rows x k, row-major: orthonormal columns, zero where the singular value is 0. */
  u: Float32Array;
  /** k x cols, row-major: orthonormal rows, zero where the singular value is 0. */
  vt: Float32Array;
  /** ||A||_F^2, the sum of squares of all elements in f64. */
  energy: number;
}

/**
 * The k leading singular triplets of a row-major float32 (rows x cols) matrix A. Q and B^T = A^T Q
 * come from the randomized range finder; the small Gram matrix B B^T = W diag(s^2) W^T is
 * diagonalised in f64, and then U = Q W_k and V = B^T W_k diag(1/s), which are formed as float32
 * products on the backend. Beyond rounding U diag(s) V^T is Q W_k W_k^T Q^T A, the best rank-k
 * approximation of A within the range of Q. V's columns are orthonormalised once more in f64
 * (in order of decreasing s, so the leading ones barely move): the float32 products leave them
 * orthogonal only to about 2^-24 s_1 / s_i.
 */
export async function truncatedSvd(
  matrix: Float32Array,
  rows: number,
  cols: number,
  options: TruncatedSvdOptions,
): Promise<TruncatedSvd> {
  const { backend, signal, tensor } = options;
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0 || matrix.length !== rows * cols) {
    throw new SurgeonError('usage', `matrix of ${matrix.length} elements does not match shape [${rows}, ${cols}]`, undefined, tensor);
  }
  if (!Number.isSafeInteger(options.rank) || options.rank < 0) {
    throw new SurgeonError('usage', `the rank must be a non-negative integer, not ${options.rank}`, undefined, tensor);
  }
  const checkCancelled = (): void => {
    if (signal?.aborted) throw cancelledError('the factorisation', undefined, tensor);
  };
  checkCancelled();
  const energy = sumOfSquares(matrix);
  if (!Number.isFinite(energy)) {
    throw new SurgeonError('non-finite-matrix', 'the matrix holds NaN or infinite values, so it has no singular value decomposition', undefined, tensor);
  }
  const smallest = Math.min(rows, cols);
  const k = Math.min(options.rank, smallest);
  const zero = (): TruncatedSvd => ({
    rows, cols, k, singularValues: new Array<number>(k).fill(0), u: new Float32Array(rows * k), vt: new Float32Array(k * cols), energy,
  });
  if (k === 0 || energy === 0) return zero();

  const samples = Math.min(k + (options.oversampling ?? defaultOversampling(k)), smallest);
  const { basis, projectedTransposed, gram } = await projectOntoRandomizedRange(matrix, rows, cols, {
    samples,
    backend,
    seed: options.seed ?? DEFAULT_SEED,
    powerIterations: options.powerIterations ?? DEFAULT_POWER_ITERATIONS,
    signal,
    work: 'the factorisation',
    tensor,
  });
  const { values, vectors } = symmetricEigensystem(gram, samples);
  const floor = NOISE_FLOOR * Math.sqrt(energy);
  const singularValues = values.slice(0, k).map((eigenvalue) => {
    const value = Math.sqrt(Math.max(0, eigenvalue));
    return value > floor ? value : 0;
  });
  // The values descend, so the directions kept are a prefix.
  const kept = singularValues.filter((value) => value > 0).length;
  if (kept === 0) return zero();

  // W_k: column i is the eigenvector of the i-th eigenvalue.
  const leadingVectors = new Float32Array(samples * kept);
  for (let i = 0; i < kept; i++) {
    for (let j = 0; j < samples; j++) leadingVectors[j * kept + i] = vectors[i * samples + j]!;
  }
  checkCancelled();
  const u = widenColumns(await backend.matmul(basis, [rows, samples], leadingVectors, [samples, kept]), rows, kept, k);
  checkCancelled();
  // B^T W_k = V diag(s): orthonormalising its columns divides by s without dividing by a small s.
  const scaledV = await backend.matmul(projectedTransposed, [cols, samples], leadingVectors, [samples, kept]);
  const v = await panelOrthonormalizer(backend)(scaledV, cols, kept, 2);
  const vt = new Float32Array(k * cols);
  for (let j = 0; j < cols; j++) {
    for (let i = 0; i < kept; i++) vt[i * cols + j] = v[j * kept + i]!;
  }
  return { rows, cols, k, singularValues, u, vt, energy };
}

/** A row-major (rows x cols) matrix as the first columns of a (rows x width) one, the rest zero. */
function widenColumns(matrix: Float32Array, rows: number, cols: number, width: number): Float32Array {
  if (cols === width) return matrix;
  const out = new Float32Array(rows * width);
  for (let i = 0; i < rows; i++) out.set(matrix.subarray(i * cols, i * cols + cols), i * width);
  return out;
}
