import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createJsMatrixBackend } from '../../../src/engine/spectra/js-matrix-backend';
import { Float64Scratch, orthonormalColumns, orthonormalColumnsBlocked } from '../../../src/engine/spectra/orthonormalize';
import { randomizedSingularValues } from '../../../src/engine/spectra/randomized-svd';
import { symmetricEigenvalues } from '../../../src/engine/spectra/symmetric-eigenvalues';
import { gaussianMatrix, jacobiSingularValues, matrixWithSpectrum, randomOrthonormalColumns, referenceFloat64Products, spectralProduct } from './reference-linear-algebra';

const backend = createJsMatrixBackend();

/**
 * Tolerance on singular values, relative to the largest. Rounding A to float32 perturbs it by E
 * with ||E||_2 <= ||E||_F <= 2^-24 ||A||_F, and by Weyl's inequality no singular value moves by
 * more than ||E||_2; the float32 products and the float32 basis add errors of the same order
 * times sqrt(dimension) (about 20 here). 1e-5 * s_1 covers both with a margin of 10 for the
 * matrices below (||A||_F <= 3 s_1) while still failing for any algorithmic error, which shows
 * up at the size of the first neglected singular value (>= 1e-3 s_1 in these tests).
 */
const RELATIVE_TOLERANCE = 1e-5;

function assertSingularValuesClose(actual: readonly number[], expected: readonly number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: count`);
  const scale = Math.max(...expected, ...actual);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= RELATIVE_TOLERANCE * scale,
      `${label}: s_${i + 1} = ${actual[i]} vs ${expected[i]}`,
    );
  }
}

describe('randomized singular values', () => {
  it('recovers an exactly low-rank spectrum and finds nothing beyond it', async () => {
    const spectrum = [10, 5, 2, 1, 0.5];
    const matrix = matrixWithSpectrum(200, 120, spectrum, 11);
    const values = await randomizedSingularValues(matrix, 200, 120, { rank: 8, backend, seed: 1 });
    assertSingularValuesClose(values, [...spectrum, 0, 0, 0], 'rank 5');
  });

  it('matches the leading values of a geometrically decaying spectrum, never exceeding them', async () => {
    const spectrum = Array.from({ length: 150 }, (_, i) => 0.8 ** i);
    const matrix = matrixWithSpectrum(300, 180, spectrum, 23);
    const values = await randomizedSingularValues(matrix, 300, 180, { rank: 16, backend, seed: 2 });
    assertSingularValuesClose(values, spectrum.slice(0, 16), 'decaying');
    // B = Q^T A has singular values interlaced below those of A, so estimates are lower bounds.
    for (let i = 0; i < 16; i++) assert.ok(values[i]! <= spectrum[i]! * (1 + RELATIVE_TOLERANCE), `s_${i + 1} above the truth`);
  });

  it('is exact on a full-rank random matrix once k reaches min(rows, cols), against an independent Jacobi SVD', async () => {
    // 43 and 61 columns leave the four-row Gram update a partial last step.
    for (const [rows, cols] of [[60, 40], [40, 60], [61, 43], [43, 61]] as const) {
      const matrix = gaussianMatrix(rows, cols, rows + cols);
      const values = await randomizedSingularValues(matrix, rows, cols, { rank: 64, backend, seed: 3 });
      assertSingularValuesClose(values, jacobiSingularValues(matrix, rows, cols), `${rows} x ${cols}`);
    }
  });

  it('without power iterations loses accuracy on a flat tail, which the iterations restore', async () => {
    // A slowly decaying spectrum is where the range finder needs the power iterations.
    const spectrum = Array.from({ length: 120 }, (_, i) => 1 / (1 + i) ** 0.5);
    const matrix = matrixWithSpectrum(160, 140, spectrum, 31);
    const plain = await randomizedSingularValues(matrix, 160, 140, { rank: 4, backend, seed: 4, powerIterations: 0 });
    const refined = await randomizedSingularValues(matrix, 160, 140, { rank: 4, backend, seed: 4 });
    const error = (values: number[]) => Math.max(...values.map((value, i) => Math.abs(value - spectrum[i]!)));
    assert.ok(error(refined) < error(plain) / 2, `refined ${error(refined)} vs plain ${error(plain)}`);
  });

  it('gives the same bits for the same seed and caps k at min(rows, cols)', async () => {
    const matrix = gaussianMatrix(30, 12, 5);
    const first = await randomizedSingularValues(matrix, 30, 12, { rank: 20, backend, seed: 9 });
    const second = await randomizedSingularValues(matrix, 30, 12, { rank: 20, backend, seed: 9 });
    assert.equal(first.length, 12);
    assert.deepEqual(first, second);
  });

  it('gives the same values through the blocked orthonormalisation of a backend with f64 products', async () => {
    // 16 + 10 samples fit one block of 32; 64 + 10 take three, so the products between blocks run.
    const spectrum = Array.from({ length: 150 }, (_, i) => 0.8 ** i);
    const matrix = matrixWithSpectrum(300, 180, spectrum, 23);
    const blocked = { ...backend, f64: referenceFloat64Products };
    for (const rank of [16, 64]) {
      const values = await randomizedSingularValues(matrix, 300, 180, { rank, backend: blocked, seed: 2 });
      assertSingularValuesClose(values, spectrum.slice(0, rank), `blocked, rank ${rank}`);
    }
    const exact = await randomizedSingularValues(gaussianMatrix(61, 43, 104), 61, 43, { rank: 64, backend: blocked, seed: 3 });
    assertSingularValuesClose(exact, jacobiSingularValues(gaussianMatrix(61, 43, 104), 61, 43), 'blocked, 61 x 43');
  });

  it('honours cancellation between products', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      randomizedSingularValues(gaussianMatrix(20, 20, 1), 20, 20, { rank: 4, backend, seed: 1, signal: controller.signal }),
      /cancelled/,
    );
  });
});

describe('building blocks of the randomized SVD', () => {
  it('orthonormalises nearly dependent columns and zeroes exactly dependent ones', () => {
    const rows = 50;
    const base = gaussianMatrix(rows, 3, 77);
    const cols = 4;
    const matrix = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      matrix[i * cols] = base[i * 3]!;
      matrix[i * cols + 1] = base[i * 3]! + 1e-4 * base[i * 3 + 1]!;
      matrix[i * cols + 2] = 2 * base[i * 3]!; // the same direction as column 0
      matrix[i * cols + 3] = base[i * 3 + 2]!;
    }
    const q = orthonormalColumns(matrix, rows, cols);
    const dot = (x: number, y: number) => {
      let sum = 0;
      for (let i = 0; i < rows; i++) sum += q[i * cols + x]! * q[i * cols + y]!;
      return sum;
    };
    for (const x of [0, 1, 3]) {
      assert.ok(Math.abs(dot(x, x) - 1) < 1e-6, `column ${x} norm`);
      for (const y of [0, 1, 3]) if (y > x) assert.ok(Math.abs(dot(x, y)) < 1e-6, `columns ${x}, ${y}`);
    }
    assert.ok(Math.abs(dot(2, 2)) < 1e-12, 'dependent column not zeroed');
  });

  it('one pass gives the bits of textbook left-looking modified Gram-Schmidt', () => {
    const rows = 37;
    const cols = 11; // two groups of four and a tail of three later columns
    const matrix = gaussianMatrix(rows, cols, 41);
    const columns = Array.from({ length: cols }, (_, j) => Float64Array.from({ length: rows }, (_, i) => matrix[i * cols + j]!));
    for (let j = 0; j < cols; j++) {
      for (let p = 0; p < j; p++) {
        let dot = 0;
        for (let i = 0; i < rows; i++) dot += columns[p]![i]! * columns[j]![i]!;
        for (let i = 0; i < rows; i++) columns[j]![i] = columns[j]![i]! - dot * columns[p]![i]!;
      }
      let sum = 0;
      for (let i = 0; i < rows; i++) sum += columns[j]![i]! * columns[j]![i]!;
      for (let i = 0; i < rows; i++) columns[j]![i] = columns[j]![i]! * (1 / Math.sqrt(sum));
    }
    const expected = Float32Array.from({ length: rows * cols }, (_, index) => columns[index % cols]![Math.floor(index / cols)]!);
    assert.deepEqual(orthonormalColumns(matrix, rows, cols, 1), expected);
  });

  it('a scratch lent from panel to panel changes no bit: a smaller panel after a larger one, plain and blocked', async () => {
    const scratch = new Float64Scratch();
    const large = gaussianMatrix(70, 40, 5);
    const small = gaussianMatrix(33, 36, 6);
    const expectedLarge = orthonormalColumns(large, 70, 40, 2);
    assert.deepEqual(orthonormalColumns(large, 70, 40, 2, scratch), expectedLarge);
    assert.deepEqual(orthonormalColumns(small, 33, 36, 2, scratch), orthonormalColumns(small, 33, 36, 2));
    const blockedSmall = await orthonormalColumnsBlocked(small, 33, 36, 2, referenceFloat64Products);
    assert.deepEqual(await orthonormalColumnsBlocked(large, 70, 40, 2, referenceFloat64Products, scratch), await orthonormalColumnsBlocked(large, 70, 40, 2, referenceFloat64Products));
    assert.deepEqual(await orthonormalColumnsBlocked(small, 33, 36, 2, referenceFloat64Products, scratch), blockedSmall);
  });

  it('two passes keep an ill-conditioned basis orthonormal to f32 rounding', () => {
    // Singular values from 1 down to 1e-9, as a panel looks after power iterations.
    const rows = 300;
    const cols = 70;
    const spectrum = Array.from({ length: cols }, (_, i) => 10 ** (-9 * i / (cols - 1)));
    const q = orthonormalColumns(matrixWithSpectrum(rows, cols, spectrum, 8), rows, cols, 2);
    // The basis is rounded to f32 on return: 2^-24 per element, times sqrt(rows) in a dot product.
    const worst = orthogonalityLoss(q, rows, cols);
    assert.ok(worst < 1e-6, `max |Q^T Q - I| = ${worst}`);
  });

  it('the blocked sweep keeps an ill-conditioned basis orthonormal, zeroes dependent columns and spans what the plain one spans', async () => {
    const rows = 300;
    const cols = 70; // blocks of 32, 32 and 6
    const spectrum = Array.from({ length: cols }, (_, i) => 10 ** (-9 * i / (cols - 1)));
    const matrix = matrixWithSpectrum(rows, cols, spectrum, 8);
    // Column 40 repeats column 3, across blocks: it must come out zero.
    for (let i = 0; i < rows; i++) matrix[i * cols + 40] = matrix[i * cols + 3]!;
    const blocked = await orthonormalColumnsBlocked(matrix, rows, cols, 2, referenceFloat64Products);
    const plain = orthonormalColumns(matrix, rows, cols, 2);
    const worst = orthogonalityLoss(blocked, rows, cols, new Set([40]));
    assert.ok(worst < 1e-6, `max |Q^T Q - I| = ${worst}`);
    assert.equal(columnDot(blocked, blocked, rows, cols, 40), 0);
    // The leading columns are well determined, so both sweeps give them, to f32 rounding.
    for (let x = 0; x < 8; x++) assert.ok(Math.abs(columnDot(blocked, plain, rows, cols, x) - 1) < 1e-5, `column ${x}`);
  });

  it('finds the eigenvalues of a 266 x 266 Gram matrix (rank 256 plus oversampling) with repeats and zeros', () => {
    const n = 266;
    const eigenvalues = Array.from({ length: n }, (_, i) => (i < 4 ? 7 : i < 200 ? 0.97 ** i : 0));
    const basis = randomOrthonormalColumns(n, n, 12);
    const found = symmetricEigenvalues(spectralProduct(basis, basis, n, n, eigenvalues), n);
    found.forEach((value, i) => assert.ok(Math.abs(value - eigenvalues[i]!) < 1e-12 * 7, `lambda_${i + 1} = ${value} vs ${eigenvalues[i]}`));
    assert.deepEqual(symmetricEigenvalues(new Float64Array([5]), 1), [5]);
    assert.deepEqual(symmetricEigenvalues(new Float64Array(0), 0), []);
  });

  it('finds the eigenvalues of a symmetric matrix built from a known spectrum', () => {
    const eigenvalues = [9, 4, 4, 1, 0, -2];
    const n = eigenvalues.length;
    const q = gaussianMatrix(n, n, 3);
    // Orthonormal eigenvectors: classical Gram-Schmidt of a Gaussian matrix, in f64.
    const basis = Array.from({ length: n }, (_, j) => Array.from({ length: n }, (_, i) => q[i * n + j]!));
    for (let j = 0; j < n; j++) {
      for (let p = 0; p < j; p++) {
        const d = basis[j]!.reduce((sum, value, i) => sum + value * basis[p]![i]!, 0);
        basis[j] = basis[j]!.map((value, i) => value - d * basis[p]![i]!);
      }
      const norm = Math.hypot(...basis[j]!);
      basis[j] = basis[j]!.map((value) => value / norm);
    }
    const matrix = new Float64Array(n * n);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        matrix[r * n + c] = eigenvalues.reduce((sum, lambda, p) => sum + lambda * basis[p]![r]! * basis[p]![c]!, 0);
      }
    }
    const found = symmetricEigenvalues(matrix, n);
    found.forEach((value, i) => assert.ok(Math.abs(value - eigenvalues[i]!) < 1e-12, `lambda_${i + 1} = ${value}`));
  });
});

/** The dot product of column x of one row-major (rows x cols) basis with column y of another. */
function columnDot(p: Float32Array, q: Float32Array, rows: number, cols: number, x: number, y = x): number {
  let sum = 0;
  for (let i = 0; i < rows; i++) sum += p[i * cols + x]! * q[i * cols + y]!;
  return sum;
}

/** max |Q^T Q - I| over the columns not skipped. */
function orthogonalityLoss(q: Float32Array, rows: number, cols: number, skip: ReadonlySet<number> = new Set()): number {
  let worst = 0;
  for (let x = 0; x < cols; x++) {
    for (let y = x; y < cols; y++) {
      if (skip.has(x) || skip.has(y)) continue;
      worst = Math.max(worst, Math.abs(columnDot(q, q, rows, cols, x, y) - (x === y ? 1 : 0)));
    }
  }
  return worst;
}
