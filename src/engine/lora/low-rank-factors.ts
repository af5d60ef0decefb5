import { SurgeonError } from '../errors';
import type { MatrixBackend } from '../spectra/matrix-backend';
import { sumOfSquares } from '../spectra/spectral-stats';
import { truncatedSvd } from '../spectra/truncated-svd';

/** A uniform rank, or per matrix the smallest rank that captures the share `energy` of ||Δ||_F^2, at most `maxRank`. */
export type RankSelection = { rank: number } | { energy: number; maxRank: number };

/**
 * How far below the requested share a rank's captured share may fall and still count: singular
 * values from float32 products carry relative errors of about 2^-24 each, so even the numerical
 * rank of an exactly low-rank matrix captures a little less than all of the f64 energy. Without
 * this, `energy: 1` would always end at the cap.
 */
const SHARE_ROUNDING = 2 ** -20;

/**
 * Elements of B A formed per product: 16 MiB of float32, enough rows (146 of a 28672-column
 * matrix) that copying A into the backend for each block costs little beside the product.
 */
const PRODUCT_BLOCK_ELEMENTS = 2 ** 22;

export interface LowRankFactors {
  rank: number;
  /** rows x rank, row-major: U_r sqrt(S_r), PEFT's lora_B. */
  b: Float32Array;
  /** rank x cols, row-major: sqrt(S_r) V_r^T, PEFT's lora_A. */
  a: Float32Array;
  /** The singular values computed, descending: `rank` of them, or maxRank for an energy selection. */
  singularValues: number[];
  /** ||Δ||_F^2 in f64. */
  energy: number;
  /** sum_{i<=rank} s_i^2 / ||Δ||_F^2, at most 1; 1 at full rank and for a zero matrix. */
  capturedEnergy: number;
}

export interface FactorDeltaOptions {
  backend: MatrixBackend;
  signal?: AbortSignal;
  /** Named in errors. */
  tensor?: string;
  /** Seed of the randomized SVD; the same seed gives the same bits. */
  seed?: number;
}

/**
 * The rank for a matrix with these leading singular values and energy ||Δ||_F^2: the uniform rank
 * capped at fullRank = min(rows, cols), or the smallest r with sum_{i<=r} s_i^2 >= E ||Δ||_F^2
 * (up to SHARE_ROUNDING), capped at min(maxRank, fullRank). 0 for a zero matrix, which needs no
 * factors.
 */
export function chooseRank(singularValues: readonly number[], energy: number, selection: RankSelection, fullRank: number): number {
  checkSelection(selection);
  if (energy === 0) return 0;
  if ('rank' in selection) return Math.min(selection.rank, fullRank);
  const cap = Math.min(selection.maxRank, fullRank);
  const target = (selection.energy - SHARE_ROUNDING) * energy;
  let captured = 0;
  for (let rank = 1; rank < cap; rank++) {
    captured += (singularValues[rank - 1] ?? 0) ** 2;
    if (captured >= target) return rank;
  }
  return cap;
}

/**
 * LoRA factors of a row-major float32 (rows x cols) delta: Δ ≈ B A with B = U_r sqrt(S_r) and
 * A = sqrt(S_r) V_r^T from its truncated SVD, whose square roots split the scale evenly so that
 * neither factor loses range when rounded to bf16. An energy selection takes the SVD at maxRank
 * and keeps the leading directions it needs. Besides Δ it holds the SVD's panels and factors.
 */
export async function factorDelta(
  matrix: Float32Array,
  rows: number,
  cols: number,
  selection: RankSelection,
  options: FactorDeltaOptions,
): Promise<LowRankFactors> {
  checkSelection(selection, options.tensor);
  const fullRank = Math.min(rows, cols);
  const svd = await truncatedSvd(matrix, rows, cols, {
    rank: 'rank' in selection ? selection.rank : selection.maxRank,
    backend: options.backend,
    seed: options.seed,
    signal: options.signal,
    tensor: options.tensor,
  });
  const { k, u, vt, singularValues, energy } = svd;
  const rank = Math.min(chooseRank(singularValues, energy, selection, fullRank), k);
  const roots = singularValues.slice(0, rank).map(Math.sqrt);
  const b = new Float32Array(rows * rank);
  for (let i = 0; i < rows; i++) {
    for (let p = 0; p < rank; p++) b[i * rank + p] = u[i * k + p]! * roots[p]!;
  }
  const a = new Float32Array(rank * cols);
  for (let p = 0; p < rank; p++) {
    const root = roots[p]!;
    for (let j = 0; j < cols; j++) a[p * cols + j] = root * vt[p * cols + j]!;
  }
  return { rank, b, a, singularValues, energy, capturedEnergy: capturedShare(singularValues, energy, rank, fullRank) };
}

/**
 * ||Δ - B A||_F / ||Δ||_F for a row-major Δ (rows x cols), B (rows x rank) and A (rank x cols),
 * measured: B A is formed a block of rows at a time on the backend (float32, so the measure
 * carries about 2^-24 of rounding of its own), and the differences and their squares are summed in
 * f64. Given factors rounded to the adapter's dtype, it is the error of the adapter as written. 0
 * when Δ is zero.
 */
export async function relativeReconstructionError(
  matrix: Float32Array,
  rows: number,
  cols: number,
  b: Float32Array,
  a: Float32Array,
  rank: number,
  backend: MatrixBackend,
  /** ||Δ||_F^2 where the caller has it (factorDelta's `energy`): one pass over Δ fewer. */
  energy = sumOfSquares(matrix),
): Promise<number> {
  if (matrix.length !== rows * cols || b.length !== rows * rank || a.length !== rank * cols) {
    throw new SurgeonError('usage', `a [${rows}, ${cols}] matrix of ${matrix.length} elements does not fit factors of ${b.length} and ${a.length} elements at rank ${rank}`);
  }
  if (energy === 0) return 0;
  if (rank === 0) return 1;
  const blockRows = Math.max(1, Math.floor(PRODUCT_BLOCK_ELEMENTS / cols));
  let residual = 0;
  for (let top = 0; top < rows; top += blockRows) {
    const bottom = Math.min(rows, top + blockRows);
    const product = await backend.matmul(b.subarray(top * rank, bottom * rank), [bottom - top, rank], a, [rank, cols]);
    const offset = top * cols;
    for (let i = 0; i < product.length; i++) {
      const difference = matrix[offset + i]! - product[i]!;
      residual += difference * difference;
    }
  }
  return Math.sqrt(residual / energy);
}

function capturedShare(singularValues: readonly number[], energy: number, rank: number, fullRank: number): number {
  if (energy === 0 || rank >= fullRank) return 1;
  let captured = 0;
  for (let i = 0; i < rank; i++) captured += singularValues[i]! ** 2;
  return Math.min(1, captured / energy);
}

function checkSelection(selection: RankSelection, tensor?: string): void {
  const wholeRank = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;
  const valid = 'rank' in selection
    ? wholeRank(selection.rank)
    : wholeRank(selection.maxRank) && selection.energy > 0 && selection.energy <= 1;
  if (!valid) {
    throw new SurgeonError('usage', `a rank must be a whole number and an energy share above 0 and at most 1, not ${JSON.stringify(selection)}`, undefined, tensor);
  }
}
