import { SurgeonError } from '../errors';

/**
 * Where the heavy products of the spectral pass run. Matrices are row-major float32; the shape
 * of `a` is its stored shape, so with `transposeA` the product is a^T @ b and needs
 * aShape[0] === bShape[0]. The result is row-major too.
 */
export interface MatrixBackend {
  /** Short identifier: 'js', 'wasm-simd' or 'onnxruntime-node'. */
  readonly name: string;
  /** The hardware path that ran the products, in words a user can check ('CPU', 'CUDA'). */
  readonly provider: string;
  matmul(
    a: Float32Array,
    aShape: readonly [number, number],
    b: Float32Array,
    bShape: readonly [number, number],
    transposeA?: boolean,
  ): Promise<Float32Array>;
  /**
   * Where the caller may build the matrix it will multiply (`elements` long) so that products of it
   * need no copy, where the backend has such memory. Valid until the next call; its values are
   * whatever the last user left.
   */
  matrixStorage?(elements: number): Float32Array;
  /** Fast f64 products for the orthonormalisation, where the backend has them; plain f64 loops otherwise. */
  readonly f64?: Float64Products;
  /** Releases native sessions, where there are any. */
  dispose?(): Promise<void>;
}

/**
 * The two f64 products of block Gram-Schmidt, row-major. onnxruntime's CPU provider runs them at
 * about 50 GFLOP/s on 2 cores, against about 1.6 for f64 loops in JavaScript.
 */
export interface Float64Products {
  /** A (m x k) @ B^T with B stored (n x k): the coefficients of a block's columns in later ones. */
  timesTransposed(a: Float64Array, m: number, b: Float64Array, n: number, k: number): Promise<Float64Array>;
  /** Y - A^T @ B with A stored (k x m), B (k x n) and Y (m x n): the later columns with the block projected out. */
  minusTransposedTimes(y: Float64Array, a: Float64Array, b: Float64Array, k: number, m: number, n: number): Promise<Float64Array>;
}

/** The dimensions of a product, after checking that the operands fit their shapes and each other. */
export interface ProductShape {
  /** Rows of the result. */
  m: number;
  /** The summed dimension. */
  k: number;
  /** Columns of the result. */
  n: number;
}

export function checkProductShape(
  a: Float32Array,
  aShape: readonly [number, number],
  b: Float32Array,
  bShape: readonly [number, number],
  transposeA: boolean,
): ProductShape {
  const [aRows, aCols] = aShape;
  const [bRows, bCols] = bShape;
  for (const dim of [aRows, aCols, bRows, bCols]) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new SurgeonError('usage', `matrix dimension ${dim} is not a non-negative integer`);
    }
  }
  if (a.length !== aRows * aCols || b.length !== bRows * bCols) {
    throw new SurgeonError('usage', `matrix data of ${a.length} and ${b.length} elements does not match shapes [${aShape.join(', ')}] and [${bShape.join(', ')}]`);
  }
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  if (k !== bRows) {
    throw new SurgeonError('shape-mismatch', `cannot multiply ${transposeA ? 'the transpose of ' : ''}[${aShape.join(', ')}] by [${bShape.join(', ')}]`);
  }
  return { m, k, n: bCols };
}
