/** QL iterations per eigenvalue; implicit shifts converge cubically, so this is never reached on finite input. */
const MAX_QL_ITERATIONS = 60;

/**
 * Eigenvalues of a symmetric n x n matrix (row-major f64, consumed), in descending order:
 * Householder reduction to tridiagonal form, then the QL algorithm with implicit shifts, values
 * only (EISPACK's tred1 and tql1, as in Numerical Recipes' tred2 and tqli). About 4n^3/3 flops,
 * a tenth of what cyclic Jacobi spends at the n of the spectral pass (266 at rank 256), and
 * accurate to f64 rounding relative to the largest eigenvalue, which is all the pass needs.
 */
export function symmetricEigenvalues(matrix: Float64Array, n: number): number[] {
  const diagonal = new Float64Array(n);
  const offDiagonal = new Float64Array(n);
  tridiagonalize(matrix, n, diagonal, offDiagonal, false);
  tridiagonalQl(diagonal, offDiagonal, n, undefined);
  return Array.from(diagonal).sort((x, y) => y - x);
}

export interface SymmetricEigensystem {
  /** Descending. */
  values: number[];
  /** Row-major n x n: row i is the unit eigenvector of values[i]; the rows are orthonormal. */
  vectors: Float64Array;
}

/**
 * Eigenvalues and eigenvectors of a symmetric n x n matrix (row-major f64, consumed): the same
 * reduction and QL iteration as symmetricEigenvalues, with the Householder reflections and the
 * plane rotations accumulated (EISPACK's tred2 and tql2), about 9n^3 flops in all. The eigenvalues
 * are the same bits as symmetricEigenvalues gives (the accumulation writes only where the values'
 * path never reads); each vector is accurate to f64 rounding over its eigenvalue's gap to the
 * others, so vectors of near-equal eigenvalues are mixed but span their invariant subspace.
 */
export function symmetricEigensystem(matrix: Float64Array, n: number): SymmetricEigensystem {
  const diagonal = new Float64Array(n);
  const offDiagonal = new Float64Array(n);
  tridiagonalize(matrix, n, diagonal, offDiagonal, true);
  // The reflections accumulate into the columns of `matrix`; the rotations then combine pairs of
  // vectors, which as rows of the transpose are contiguous.
  const vectors = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) vectors[i * n + k] = matrix[k * n + i]!;
  tridiagonalQl(diagonal, offDiagonal, n, vectors);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => diagonal[y]! - diagonal[x]!);
  const sorted = new Float64Array(n * n);
  order.forEach((from, to) => sorted.set(vectors.subarray(from * n, from * n + n), to * n));
  return { values: order.map((i) => diagonal[i]!), vectors: sorted };
}

/**
 * Householder tridiagonalisation of the lower triangle of `a`, from the last row up: the diagonal
 * goes to d and the subdiagonal to e[1..n-1] (e[0] = 0). With `accumulate`, `a` ends as the
 * orthogonal matrix whose columns carry the tridiagonal matrix's eigenvectors to `a`'s: each
 * reflection's u/H is kept in the upper triangle, which the reduction never reads, and the
 * reflections are multiplied out after it.
 */
function tridiagonalize(a: Float64Array, n: number, d: Float64Array, e: Float64Array, accumulate: boolean): void {
  for (let i = n - 1; i > 0; i--) {
    const l = i - 1;
    const row = i * n;
    let h = 0;
    if (l > 0) {
      let scale = 0;
      for (let k = 0; k <= l; k++) scale += Math.abs(a[row + k]!);
      if (scale === 0) {
        e[i] = a[row + l]!;
      } else {
        for (let k = 0; k <= l; k++) {
          a[row + k] = a[row + k]! / scale;
          h += a[row + k]! * a[row + k]!;
        }
        let f = a[row + l]!;
        let g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        a[row + l] = f - g;
        f = 0;
        for (let j = 0; j <= l; j++) {
          if (accumulate) a[j * n + i] = a[row + j]! / h;
          g = 0;
          for (let k = 0; k <= j; k++) g += a[j * n + k]! * a[row + k]!;
          for (let k = j + 1; k <= l; k++) g += a[k * n + j]! * a[row + k]!;
          e[j] = g / h;
          f += e[j]! * a[row + j]!;
        }
        const hh = f / (h + h);
        for (let j = 0; j <= l; j++) {
          f = a[row + j]!;
          g = e[j]! - hh * f;
          e[j] = g;
          for (let k = 0; k <= j; k++) a[j * n + k] = a[j * n + k]! - (f * e[k]! + g * a[row + k]!);
        }
      }
    } else {
      e[i] = a[row + l]!;
    }
    d[i] = h;
  }
  e[0] = 0;
  if (!accumulate) {
    for (let i = 0; i < n; i++) d[i] = a[i * n + i]!;
    return;
  }
  // d[i] is H of row i's reflection, 0 where there was none (row 0 never has one).
  d[0] = 0;
  for (let i = 0; i < n; i++) {
    const row = i * n;
    if (d[i] !== 0) {
      for (let j = 0; j < i; j++) {
        let g = 0;
        for (let k = 0; k < i; k++) g += a[row + k]! * a[k * n + j]!;
        for (let k = 0; k < i; k++) a[k * n + j] = a[k * n + j]! - g * a[k * n + i]!;
      }
    }
    d[i] = a[row + i]!;
    a[row + i] = 1;
    for (let j = 0; j < i; j++) {
      a[j * n + i] = 0;
      a[row + j] = 0;
    }
  }
}

/**
 * Eigenvalues of the symmetric tridiagonal matrix (d, e[1..n-1]) into d, by QL with implicit
 * shifts; where `vectors` (row-major n x n) is given, every rotation is applied to its rows, so
 * rows that start as the reduction's basis end as the eigenvectors of the final d.
 */
function tridiagonalQl(d: Float64Array, e: Float64Array, n: number, vectors: Float64Array | undefined): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  if (n > 0) e[n - 1] = 0;
  for (let l = 0; l < n; l++) {
    let iterations = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const scale = Math.abs(d[m]!) + Math.abs(d[m + 1]!);
        if (Math.abs(e[m]!) <= Number.EPSILON * scale) break;
      }
      if (m === l) break;
      if (++iterations > MAX_QL_ITERATIONS) throw new Error(`the QL iteration did not converge for eigenvalue ${l + 1} of ${n}`);
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the matrix splits here; recover and start over on the smaller block.
          d[i + 1] = d[i + 1]! - p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (vectors !== undefined) rotateRows(vectors, n, i, c, s);
      }
      if (r === 0 && i >= l) continue;
      d[l] = d[l]! - p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

/** Rows i and i + 1 of `vectors` become c row_i - s row_{i+1} and s row_i + c row_{i+1}. */
function rotateRows(vectors: Float64Array, n: number, i: number, c: number, s: number): void {
  const upper = i * n;
  const lower = upper + n;
  for (let k = 0; k < n; k++) {
    const x = vectors[upper + k]!;
    const y = vectors[lower + k]!;
    vectors[lower + k] = s * x + c * y;
    vectors[upper + k] = c * x - s * y;
  }
}
