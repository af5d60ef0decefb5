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
  tridiagonalize(matrix, n, diagonal, offDiagonal);
  tridiagonalQl(diagonal, offDiagonal, n);
  return Array.from(diagonal).sort((x, y) => y - x);
}

/**
 * Householder tridiagonalisation of the lower triangle of `a`, from the last row up: the diagonal
 * goes to d and the subdiagonal to e[1..n-1] (e[0] = 0).
 */
function tridiagonalize(a: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
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
  for (let i = 0; i < n; i++) d[i] = a[i * n + i]!;
  e[0] = 0;
}

/** Eigenvalues of the symmetric tridiagonal matrix (d, e[1..n-1]) into d, by QL with implicit shifts. */
function tridiagonalQl(d: Float64Array, e: Float64Array, n: number): void {
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
      }
      if (r === 0 && i >= l) continue;
      d[l] = d[l]! - p;
      e[l] = g;
      e[m] = 0;
    }
  }
}
