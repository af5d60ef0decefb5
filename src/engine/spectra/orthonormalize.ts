import type { Float64Products } from './matrix-backend';

/**
 * Below this fraction of its original norm a column is taken to lie in the span of the columns
 * before it (the matrix is rank deficient there) and is set to zero rather than normalised, which
 * would only blow rounding noise up to unit length.
 */
const DEPENDENT_COLUMN_RATIO = 1e-10;

/**
 * An orthonormal basis of the columns of a row-major float32 (rows x cols) matrix, computed in
 * f64 by modified Gram-Schmidt. Two passes ("twice is enough", Giraud et al. 2005: the second
 * orthonormalises the first's result) keep the basis orthogonal to working precision even when
 * the columns are nearly dependent, as they are after power iterations; one pass loses
 * orthogonality in proportion to 2^-53 times the condition number, which is harmless for a basis
 * that only has to span the right range for the next product and costs half as much. Returned
 * row-major float32 for the next product; columns found dependent are zero.
 */
export function orthonormalColumns(matrix: Float32Array, rows: number, cols: number, passes: 1 | 2 = 2, scratch?: Float64Scratch): Float32Array {
  const columns = columnMajor(matrix, rows, cols, scratch);
  for (let pass = 0; pass < passes; pass++) gramSchmidtSweep(columns, rows, 0, cols, columnNorms(columns, rows, cols));
  return rowMajor(columns, rows, cols);
}

/**
 * Columns per block of the blocked sweep: a block is orthonormalised by the plain sweep, then
 * projected out of all later columns by two f64 products. 32 keeps the plain part (rows x 32 x
 * cols flops) small next to the products without making them too thin to run fast.
 */
const BLOCK_COLUMNS = 32;

/**
 * orthonormalColumns with the projections between blocks done by the backend's f64 products
 * (block modified Gram-Schmidt, Jalby and Philippe 1991): within a block the same sweep as
 * above, and each finished block is taken out of every later column at once. The bits differ
 * from the plain sweep's by f64 rounding; the basis is as orthogonal.
 */
export async function orthonormalColumnsBlocked(
  matrix: Float32Array,
  rows: number,
  cols: number,
  passes: 1 | 2,
  products: Float64Products,
  scratch?: Float64Scratch,
): Promise<Float32Array> {
  const columns = columnMajor(matrix, rows, cols, scratch);
  for (let pass = 0; pass < passes; pass++) {
    const norms = columnNorms(columns, rows, cols);
    for (let start = 0; start < cols; start += BLOCK_COLUMNS) {
      const end = Math.min(cols, start + BLOCK_COLUMNS);
      gramSchmidtSweep(columns, rows, start, end, norms);
      if (end === cols) break;
      // Column-major storage is the row-major transpose: the block is (b x rows), the later columns (r x rows).
      const block = columns.subarray(start * rows, end * rows);
      const later = columns.subarray(end * rows);
      const coefficients = await products.timesTransposed(block, end - start, later, cols - end, rows);
      columns.set(await products.minusTransposedTimes(later, coefficients, block, end - start, cols - end, rows), end * rows);
    }
  }
  return rowMajor(columns, rows, cols);
}

/**
 * Rows per tile of the transposes below: a column then takes 16 consecutive f64 (two cache lines)
 * per visit instead of one element a page apart, about ten times faster for a 8192 x 74 panel.
 */
const TRANSPOSE_TILE_ROWS = 16;

/**
 * Column-major f64 (the row-major transpose) so that every column operation runs over contiguous
 * memory; into `scratch` when given.
 */
export function columnMajor(matrix: Float32Array, rows: number, cols: number, scratch?: Float64Scratch): Float64Array {
  const columns = scratch?.take(rows * cols) ?? new Float64Array(rows * cols);
  for (let top = 0; top < rows; top += TRANSPOSE_TILE_ROWS) {
    const bottom = Math.min(rows, top + TRANSPOSE_TILE_ROWS);
    for (let j = 0; j < cols; j++) {
      const column = j * rows;
      for (let i = top; i < bottom; i++) columns[column + i] = matrix[i * cols + j]!;
    }
  }
  return columns;
}

/** Row-major float32 for the next product. */
function rowMajor(columns: Float64Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let top = 0; top < rows; top += TRANSPOSE_TILE_ROWS) {
    const bottom = Math.min(rows, top + TRANSPOSE_TILE_ROWS);
    for (let j = 0; j < cols; j++) {
      const column = j * rows;
      for (let i = top; i < bottom; i++) out[i * cols + j] = columns[column + i]!;
    }
  }
  return out;
}

/**
 * One f64 array lent to the column-major copies of a matrix's panels in turn. A fresh array per
 * panel would fault its pages in anew: 3-5 ms of a 4.8 MB panel on a 2-core VM, more than the
 * transpose itself.
 */
export class Float64Scratch {
  private storage = new Float64Array(0);

  /** `length` elements, valid until the next take; their values are whatever the last user left. */
  take(length: number): Float64Array {
    if (this.storage.length < length) this.storage = new Float64Array(length);
    return this.storage.subarray(0, length);
  }
}

/**
 * Norms before a pass. After the first pass the columns are unit or zero, so in the second a
 * column is dependent below the ratio of 1.
 */
function columnNorms(columns: Float64Array, rows: number, cols: number): Float64Array {
  const norms = new Float64Array(cols);
  for (let j = 0; j < cols; j++) norms[j] = columnNorm(columns, j * rows, rows);
  return norms;
}

/**
 * One pass of modified Gram-Schmidt over columns [from, to), right-looking: once column j is
 * normalised it is projected out of every later column up to `to`. Each later column sees the
 * same operations in the same order as in the textbook's left-looking loop, so the bits are the
 * same; taking the later columns four at a time reads column j a quarter as often, which roughly
 * halves the time.
 */
function gramSchmidtSweep(columns: Float64Array, rows: number, from: number, cols: number, originalNorms: Float64Array): void {
  for (let j = from; j < cols; j++) {
    const q = j * rows;
    const norm = columnNorm(columns, q, rows);
    const scale = norm > DEPENDENT_COLUMN_RATIO * originalNorms[j]! && norm > 0 ? 1 / norm : 0;
    for (let i = 0; i < rows; i++) columns[q + i] = columns[q + i]! * scale;
    if (scale === 0) continue;
    let k = j + 1;
    for (; k + 4 <= cols; k += 4) {
      const c0 = k * rows;
      const c1 = c0 + rows;
      const c2 = c1 + rows;
      const c3 = c2 + rows;
      let d0 = 0;
      let d1 = 0;
      let d2 = 0;
      let d3 = 0;
      for (let i = 0; i < rows; i++) {
        const value = columns[q + i]!;
        d0 += value * columns[c0 + i]!;
        d1 += value * columns[c1 + i]!;
        d2 += value * columns[c2 + i]!;
        d3 += value * columns[c3 + i]!;
      }
      for (let i = 0; i < rows; i++) {
        const value = columns[q + i]!;
        columns[c0 + i] = columns[c0 + i]! - d0 * value;
        columns[c1 + i] = columns[c1 + i]! - d1 * value;
        columns[c2 + i] = columns[c2 + i]! - d2 * value;
        columns[c3 + i] = columns[c3 + i]! - d3 * value;
      }
    }
    for (; k < cols; k++) {
      const c = k * rows;
      let dot = 0;
      for (let i = 0; i < rows; i++) dot += columns[q + i]! * columns[c + i]!;
      for (let i = 0; i < rows; i++) columns[c + i] = columns[c + i]! - dot * columns[q + i]!;
    }
  }
}

function columnNorm(columns: Float64Array, offset: number, rows: number): number {
  let sum = 0;
  for (let i = 0; i < rows; i++) sum += columns[offset + i]! * columns[offset + i]!;
  return Math.sqrt(sum);
}
