import { SurgeonError } from '../errors';
import type { MatrixBackend } from './matrix-backend';
import { randomizedSingularValues } from './randomized-svd';

/** Ranks at which the share of the Frobenius energy is reported. */
export const ENERGY_RANKS = [8, 16, 64, 256] as const;
export type EnergyRank = (typeof ENERGY_RANKS)[number];

/** Enough singular values to fill every energy rank. */
const DEFAULT_SPECTRAL_RANK = 256;
const DEFAULT_SPECTRAL_SEED = 0x5eed;

/**
 * Largest matrix the pass accepts: 2^28 elements, 1 GiB of float32, which the caller holds while
 * the pass adds about 40 * (rows + cols) * (k + 10) bytes of working panels. That covers every
 * projection and MLP matrix of 70B-class models (8192 x 28672 = 2^27.8) but not their embedding
 * and output matrices (128256 x 8192); callers should skip those (see fitsSpectralBudget) rather
 * than materialise them.
 */
export const MAX_SPECTRAL_ELEMENTS = 2 ** 28;

export interface SpectralStats {
  rows: number;
  cols: number;
  /** Singular values computed: min(requested k, rows, cols). */
  k: number;
  /** The k leading singular values, descending. */
  singularValues: number[];
  /** sqrt of the exact sum of squares of all elements (f64). */
  frobeniusNorm: number;
  /**
   * Share of ||A||_F^2 in the r leading singular values, sum_{i<=r} s_i^2 / ||A||_F^2, clamped to
   * 1 against rounding. Exactly 1 when r >= min(rows, cols); null when r exceeds the k computed
   * (and is below min(rows, cols)) or the matrix is zero.
   */
  energyAtRank: Record<EnergyRank, number | null>;
  /**
   * Effective rank of Roy and Vetterli (2007), exp(H(p)) with p_i = s_i / sum_j s_j, over the k
   * computed singular values only: between 1 and k, a lower bound on the full matrix's value when
   * k < min(rows, cols). 0 for a zero matrix.
   */
  effectiveRank: number;
  /** The backend's provider, e.g. "onnxruntime-node CPU execution provider". */
  provider: string;
}

export interface SpectralStatsOptions {
  backend: MatrixBackend;
  /** Leading singular values to compute; DEFAULT_SPECTRAL_RANK when absent. */
  k?: number;
  /** Seed of the Gaussian test matrix; the same seed gives the same result. */
  seed?: number;
  oversampling?: number;
  powerIterations?: number;
  signal?: AbortSignal;
  /** Named in errors. */
  tensor?: string;
}

export function fitsSpectralBudget(rows: number, cols: number): boolean {
  return rows * cols <= MAX_SPECTRAL_ELEMENTS;
}

/** Spectral statistics of one row-major float32 (rows x cols) matrix, e.g. an instruction residual. */
export async function spectralStats(
  matrix: Float32Array,
  rows: number,
  cols: number,
  options: SpectralStatsOptions,
): Promise<SpectralStats> {
  const { tensor } = options;
  // The shape is checked before the data so that a caller learns of the limit before materialising.
  if (!fitsSpectralBudget(rows, cols)) {
    throw new SurgeonError('matrix-too-large', `[${rows}, ${cols}] has more than ${MAX_SPECTRAL_ELEMENTS} elements, the limit of spectral statistics`, undefined, tensor);
  }
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0 || matrix.length !== rows * cols) {
    throw new SurgeonError('usage', `matrix of ${matrix.length} elements does not match shape [${rows}, ${cols}]`, undefined, tensor);
  }
  const requested = options.k ?? DEFAULT_SPECTRAL_RANK;
  if (!Number.isSafeInteger(requested) || requested < 1) {
    throw new SurgeonError('usage', `k must be a positive integer, not ${requested}`, undefined, tensor);
  }
  const energy = sumOfSquares(matrix);
  if (!Number.isFinite(energy)) {
    throw new SurgeonError('non-finite-matrix', 'the matrix holds NaN or infinite values, so it has no spectrum', undefined, tensor);
  }
  const singularValues = energy === 0
    ? new Array<number>(Math.min(requested, rows, cols)).fill(0)
    : await randomizedSingularValues(matrix, rows, cols, {
      rank: requested,
      backend: options.backend,
      seed: options.seed ?? DEFAULT_SPECTRAL_SEED,
      oversampling: options.oversampling,
      powerIterations: options.powerIterations,
      signal: options.signal,
    });
  return {
    rows,
    cols,
    k: singularValues.length,
    singularValues,
    frobeniusNorm: Math.sqrt(energy),
    energyAtRank: energyShares(singularValues, energy, Math.min(rows, cols)),
    effectiveRank: effectiveRank(singularValues),
    provider: options.backend.provider,
  };
}

/** sum_{i<=r} s_i^2 / energy for each reported rank r; see SpectralStats.energyAtRank. */
function energyShares(singularValues: readonly number[], energy: number, fullRank: number): Record<EnergyRank, number | null> {
  const shares = {} as Record<EnergyRank, number | null>;
  for (const rank of ENERGY_RANKS) {
    if (energy === 0) shares[rank] = null;
    else if (rank >= fullRank) shares[rank] = 1;
    else if (rank > singularValues.length) shares[rank] = null;
    else {
      let captured = 0;
      for (let i = 0; i < rank; i++) captured += singularValues[i]! ** 2;
      shares[rank] = Math.min(1, captured / energy);
    }
  }
  return shares;
}

/** Roy and Vetterli's effective rank exp(-sum p_i ln p_i), p_i = s_i / sum s; 0 when all s_i are 0. */
function effectiveRank(singularValues: readonly number[]): number {
  const total = singularValues.reduce((sum, value) => sum + value, 0);
  if (total <= 0) return 0;
  let entropy = 0;
  for (const value of singularValues) {
    if (value <= 0) continue;
    const p = value / total;
    entropy -= p * Math.log(p);
  }
  return Math.exp(entropy);
}

/**
 * The sum of squares in f64, where each square of an f32 is exact. Four partial sums let the
 * additions overlap instead of each waiting for the one before: 0.5-0.7 against 0.9-1.1 ns an
 * element here, the rest being memory bandwidth.
 */
export function sumOfSquares(matrix: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const whole = matrix.length - (matrix.length % 4);
  for (let i = 0; i < whole; i += 4) {
    s0 += matrix[i]! * matrix[i]!;
    s1 += matrix[i + 1]! * matrix[i + 1]!;
    s2 += matrix[i + 2]! * matrix[i + 2]!;
    s3 += matrix[i + 3]! * matrix[i + 3]!;
  }
  for (let i = whole; i < matrix.length; i++) s0 += matrix[i]! * matrix[i]!;
  return (s0 + s1) + (s2 + s3);
}
