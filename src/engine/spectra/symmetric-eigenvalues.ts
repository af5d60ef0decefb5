/** Cyclic Jacobi converges quadratically; 60 sweeps is far beyond what any input here needs. */
const MAX_JACOBI_SWEEPS = 60;
/** Off-diagonal energy, relative to the whole matrix, at which the diagonal is the spectrum. */
const JACOBI_TOLERANCE = 1e-30;

/**
 * Eigenvalues of a symmetric n x n matrix (row-major f64, consumed) by the cyclic Jacobi method,
 * in descending order. Jacobi is slower than tridiagonal QR but short, and accurate to f64
 * rounding relative to the largest eigenvalue, which is all the spectral pass needs.
 */
export function symmetricEigenvalues(matrix: Float64Array, n: number): number[] {
  const a = matrix;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i]! * a[i]!;
  for (let sweep = 0; sweep < MAX_JACOBI_SWEEPS; sweep++) {
    let offDiagonal = 0;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) offDiagonal += a[p * n + q]! * a[p * n + q]!;
    }
    if (offDiagonal <= JACOBI_TOLERANCE * total) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) rotate(a, n, p, q);
    }
  }
  const values: number[] = [];
  for (let i = 0; i < n; i++) values.push(a[i * n + i]!);
  return values.sort((x, y) => y - x);
}

/** One Jacobi rotation that zeroes a[p][q] (Golub and Van Loan, algorithm 8.4.1). */
function rotate(a: Float64Array, n: number, p: number, q: number): void {
  const apq = a[p * n + q]!;
  if (apq === 0) return;
  const app = a[p * n + p]!;
  const aqq = a[q * n + q]!;
  const theta = (aqq - app) / (2 * apq);
  const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1);
  const s = t * c;
  for (let k = 0; k < n; k++) {
    const akp = a[k * n + p]!;
    const akq = a[k * n + q]!;
    a[k * n + p] = c * akp - s * akq;
    a[k * n + q] = s * akp + c * akq;
  }
  for (let k = 0; k < n; k++) {
    const apk = a[p * n + k]!;
    const aqk = a[q * n + k]!;
    a[p * n + k] = c * apk - s * aqk;
    a[q * n + k] = s * apk + c * aqk;
  }
}
