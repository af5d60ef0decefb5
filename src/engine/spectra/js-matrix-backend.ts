import { checkProductShape, type MatrixBackend } from './matrix-backend';

/**
 * Rows of the right-hand operand (or of the result, for a^T @ b) handled per block. 128 rows of a
 * 266-column panel (k = 256 plus oversampling) in f64 are about 270 KiB, which stays in L2 while
 * every row of the left operand streams past it once.
 */
const BLOCK_ROWS = 128;

/**
 * Plain JavaScript products: float32 storage, sums carried in f64 (JavaScript numbers) and rounded
 * once when the result is stored, so the result is at least as accurate as a float32 BLAS.
 */
export function createJsMatrixBackend(): MatrixBackend {
  return {
    name: 'js',
    provider: 'plain JavaScript',
    matmul: async (a, aShape, b, bShape, transposeA = false) => {
      const shape = checkProductShape(a, aShape, b, bShape, transposeA);
      return transposeA
        ? multiplyTransposedA(a, b, shape.k, shape.m, shape.n)
        : multiply(a, b, shape.m, shape.k, shape.n);
    },
  };
}

/** C (m x n) = A (m x k) @ B (k x n); each row of C is a sum of rows of B scaled by A's entries. */
function multiply(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  const sums = new Float64Array(m * n);
  for (let blockStart = 0; blockStart < k; blockStart += BLOCK_ROWS) {
    const blockEnd = Math.min(k, blockStart + BLOCK_ROWS);
    for (let i = 0; i < m; i++) {
      const rowOffset = i * n;
      const aOffset = i * k;
      for (let p = blockStart; p < blockEnd; p++) {
        const scale = a[aOffset + p]!;
        if (scale === 0) continue;
        const bOffset = p * n;
        for (let j = 0; j < n; j++) sums[rowOffset + j]! += scale * b[bOffset + j]!;
      }
    }
  }
  return Float32Array.from(sums);
}

/**
 * C (m x n) = A^T @ B with A stored as (k x m): row i of A scatters into every row of C. Blocking
 * over rows of C keeps the rows being accumulated in cache while A and B stream past.
 */
function multiplyTransposedA(a: Float32Array, b: Float32Array, k: number, m: number, n: number): Float32Array {
  const sums = new Float64Array(m * n);
  for (let blockStart = 0; blockStart < m; blockStart += BLOCK_ROWS) {
    const blockEnd = Math.min(m, blockStart + BLOCK_ROWS);
    for (let i = 0; i < k; i++) {
      const aOffset = i * m;
      const bOffset = i * n;
      for (let row = blockStart; row < blockEnd; row++) {
        const scale = a[aOffset + row]!;
        if (scale === 0) continue;
        const rowOffset = row * n;
        for (let j = 0; j < n; j++) sums[rowOffset + j]! += scale * b[bOffset + j]!;
      }
    }
  }
  return Float32Array.from(sums);
}
