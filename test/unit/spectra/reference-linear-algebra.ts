/**
 * Test-side linear algebra written independently of src/engine/spectra: its own random numbers,
 * orthogonal matrices from Householder reflections, and singular values by one-sided (Hestenes)
 * Jacobi on the columns of A, a different algorithm from the engine's eigenvalues of B B^T.
 */
import type { Float64Products } from '../../../src/engine/spectra/matrix-backend';

/** Mulberry32 uniforms and Box-Muller normals (the engine uses another generator). */
function testGaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** An n x r matrix (row-major f64) with orthonormal columns: r random reflections applied to I[:, :r]. */
export function randomOrthonormalColumns(n: number, r: number, seed: number): Float64Array {
  const next = testGaussian(seed);
  const x = new Float64Array(n * r);
  for (let j = 0; j < r; j++) x[j * r + j] = 1;
  for (let reflection = 0; reflection < r; reflection++) {
    const v = Array.from({ length: n }, () => next());
    const vv = v.reduce((sum, value) => sum + value * value, 0);
    for (let j = 0; j < r; j++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += v[i]! * x[i * r + j]!;
      const scale = (2 * dot) / vv;
      for (let i = 0; i < n; i++) x[i * r + j] = x[i * r + j]! - scale * v[i]!;
    }
  }
  return x;
}

/** U diag(s) V^T in f64 for row-major U (m x r) and V (n x r), r = s.length. */
export function spectralProduct(u: Float64Array, v: Float64Array, m: number, n: number, spectrum: readonly number[]): Float64Array {
  const r = spectrum.length;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < r; p++) sum += u[i * r + p]! * spectrum[p]! * v[j * r + p]!;
      out[i * n + j] = sum;
    }
  }
  return out;
}

/** U diag(s) V^T rounded to float32, with U (m x r) and V (n x r) random orthonormal, r = s.length. */
export function matrixWithSpectrum(m: number, n: number, spectrum: readonly number[], seed: number): Float32Array {
  const r = spectrum.length;
  return Float32Array.from(spectralProduct(randomOrthonormalColumns(m, r, seed), randomOrthonormalColumns(n, r, seed + 1), m, n, spectrum));
}

export function gaussianMatrix(m: number, n: number, seed: number): Float32Array {
  const next = testGaussian(seed);
  return Float32Array.from({ length: m * n }, () => next());
}

/** All min(m, n) singular values of a row-major m x n matrix, descending, by one-sided Jacobi in f64. */
export function jacobiSingularValues(matrix: Float32Array, m: number, n: number): number[] {
  // Work on the orientation with fewer columns; the singular values are the same.
  const wide = n > m;
  const rows = wide ? n : m;
  const cols = wide ? m : n;
  const columns: Float64Array[] = Array.from({ length: cols }, (_, j) => {
    const column = new Float64Array(rows);
    for (let i = 0; i < rows; i++) column[i] = wide ? matrix[j * n + i]! : matrix[i * n + j]!;
    return column;
  });
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < cols - 1; p++) {
      for (let q = p + 1; q < cols; q++) {
        const a = columns[p]!;
        const b = columns[q]!;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i++) {
          alpha += a[i]! * a[i]!;
          beta += b[i]! * b[i]!;
          gamma += a[i]! * b[i]!;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < rows; i++) {
          const ai = a[i]!;
          const bi = b[i]!;
          a[i] = c * ai - s * bi;
          b[i] = s * ai + c * bi;
        }
      }
    }
    if (!rotated) break;
  }
  return columns
    .map((column) => Math.sqrt(column.reduce((sum, value) => sum + value * value, 0)))
    .sort((x, y) => y - x);
}

/** C = op(A) @ B in f64 by the textbook triple loop. */
export function referenceProduct(
  a: Float32Array, aShape: readonly [number, number], b: Float32Array, bShape: readonly [number, number], transposeA: boolean,
): Float64Array {
  const [aRows, aCols] = aShape;
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  const n = bShape[1];
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += (transposeA ? a[p * aCols + i]! : a[i * aCols + p]!) * b[p * n + j]!;
      out[i * n + j] = sum;
    }
  }
  return out;
}

/** The f64 products of block Gram-Schmidt in plain loops, for testing the blocked path where onnxruntime-node is absent. */
export const referenceFloat64Products: Float64Products = {
  timesTransposed: async (a, m, b, n, k) => {
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[i * k + p]! * b[j * k + p]!;
        out[i * n + j] = sum;
      }
    }
    return out;
  },
  minusTransposedTimes: async (y, a, b, k, m, n) => {
    const out = Float64Array.from(y);
    for (let p = 0; p < k; p++) {
      for (let i = 0; i < m; i++) {
        const scale = a[p * m + i]!;
        for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! - scale * b[p * n + j]!;
      }
    }
    return out;
  },
};
