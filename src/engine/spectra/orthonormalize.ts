/**
 * Below this fraction of its original norm a column is taken to lie in the span of the columns
 * before it (the matrix is rank deficient there) and is set to zero rather than normalised, which
 * would only blow rounding noise up to unit length.
 */
const DEPENDENT_COLUMN_RATIO = 1e-10;

/**
 * An orthonormal basis of the columns of a row-major float32 (rows x cols) matrix, computed in
 * f64 by modified Gram-Schmidt. Two passes ("twice is enough", Giraud et al. 2005) keep the basis
 * orthogonal to working precision even when the columns are nearly dependent, as they are after
 * power iterations; one pass loses orthogonality in proportion to 2^-53 times the condition
 * number, which is harmless for a basis that only has to span the right range for the next
 * product and costs half as much. Returned row-major float32 for the next product; columns found
 * dependent are zero.
 */
export function orthonormalColumns(matrix: Float32Array, rows: number, cols: number, passes: 1 | 2 = 2): Float32Array {
  // Column-major f64 so that every column operation runs over contiguous memory.
  const columns = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) columns[j * rows + i] = matrix[i * cols + j]!;
  }
  for (let j = 0; j < cols; j++) {
    const offset = j * rows;
    const originalNorm = columnNorm(columns, offset, rows);
    for (let pass = 0; pass < passes; pass++) {
      for (let previous = 0; previous < j; previous++) {
        const previousOffset = previous * rows;
        let dot = 0;
        for (let i = 0; i < rows; i++) dot += columns[previousOffset + i]! * columns[offset + i]!;
        if (dot === 0) continue;
        for (let i = 0; i < rows; i++) columns[offset + i] = columns[offset + i]! - dot * columns[previousOffset + i]!;
      }
    }
    const norm = columnNorm(columns, offset, rows);
    const scale = norm > DEPENDENT_COLUMN_RATIO * originalNorm && norm > 0 ? 1 / norm : 0;
    for (let i = 0; i < rows; i++) columns[offset + i] = columns[offset + i]! * scale;
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[i * cols + j] = columns[j * rows + i]!;
  }
  return out;
}

function columnNorm(columns: Float64Array, offset: number, rows: number): number {
  let sum = 0;
  for (let i = 0; i < rows; i++) sum += columns[offset + i]! * columns[offset + i]!;
  return Math.sqrt(sum);
}
