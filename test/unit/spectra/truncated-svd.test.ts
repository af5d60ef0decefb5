import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { createJsMatrixBackend } from '../../../src/engine/spectra/js-matrix-backend';
import type { MatrixBackend } from '../../../src/engine/spectra/matrix-backend';
import { randomizedSingularValues } from '../../../src/engine/spectra/randomized-svd';
import { symmetricEigensystem, symmetricEigenvalues } from '../../../src/engine/spectra/symmetric-eigenvalues';
import { truncatedSvd, type TruncatedSvd } from '../../../src/engine/spectra/truncated-svd';
import { createWasmMatrixBackend } from '../../../src/engine/spectra/wasm-matrix-backend';
import { gaussianMatrix, matrixWithSpectrum, randomOrthonormalColumns, spectralProduct } from './reference-linear-algebra';
import { eckartYoungError, residualLikeSpectrum } from './residual-like-spectrum';

const js = createJsMatrixBackend();
const wasm = createWasmMatrixBackend();
after(async () => wasm.dispose());
const BACKENDS: ReadonlyArray<[string, MatrixBackend]> = [['js', js], ['wasm', wasm]];

/** ||A - U diag(s) V^T||_F in f64. */
function reconstructionError(matrix: Float32Array, svd: TruncatedSvd): number {
  const { rows, cols, k, u, vt, singularValues } = svd;
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let value = matrix[i * cols + j]!;
      for (let p = 0; p < k; p++) value -= u[i * k + p]! * singularValues[p]! * vt[p * cols + j]!;
      sum += value * value;
    }
  }
  return Math.sqrt(sum);
}

function frobeniusNorm(matrix: Float32Array): number {
  return Math.sqrt(matrix.reduce((sum, value) => sum + value * value, 0));
}

/** max |X X^T - I| over the first `count` of the n-long vectors stored at offsets `at(p)` with stride `stride`. */
function orthonormalityLoss(values: Float32Array, count: number, n: number, at: (p: number, i: number) => number): number {
  let worst = 0;
  for (let p = 0; p < count; p++) {
    for (let q = p; q < count; q++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += values[at(p, i)]! * values[at(q, i)]!;
      worst = Math.max(worst, Math.abs(dot - (p === q ? 1 : 0)));
    }
  }
  return worst;
}

const columnLoss = (svd: TruncatedSvd, count = svd.k) => orthonormalityLoss(svd.u, count, svd.rows, (p, i) => i * svd.k + p);
const rowLoss = (svd: TruncatedSvd, count = svd.k) => orthonormalityLoss(svd.vt, count, svd.cols, (p, j) => p * svd.cols + j);

describe('truncated SVD', () => {
  for (const [name, backend] of BACKENDS) {
    it(`reconstructs matrices of known rank to 1e-4 at that rank and above (${name})`, async () => {
      const spectrum = [10, 5, 2, 1, 0.5];
      for (const [rows, cols] of [[150, 90], [70, 120]] as const) {
        const matrix = matrixWithSpectrum(rows, cols, spectrum, rows + cols);
        for (const rank of [5, 8]) {
          const svd = await truncatedSvd(matrix, rows, cols, { rank, backend });
          assert.equal(svd.k, rank);
          const relative = reconstructionError(matrix, svd) / frobeniusNorm(matrix);
          assert.ok(relative < 1e-4, `${rows} x ${cols} at rank ${rank}: relative error ${relative}`);
          spectrum.forEach((value, i) => assert.ok(Math.abs(svd.singularValues[i]! - value) < 1e-5 * 10, `s_${i + 1} = ${svd.singularValues[i]}`));
          assert.ok(columnLoss(svd, 5) < 1e-5 && rowLoss(svd, 5) < 1e-5, 'the leading vectors are orthonormal');
        }
      }
    });
  }

  it('stays within 1% of the Eckart-Young optimum below the rank on a residual-like spectrum', async () => {
    const [rows, cols] = [240, 160];
    const spectrum = residualLikeSpectrum(cols, 0.7, 0.5);
    const matrix = matrixWithSpectrum(rows, cols, spectrum, 61);
    for (const rank of [4, 16, 32]) {
      const svd = await truncatedSvd(matrix, rows, cols, { rank, backend: wasm });
      const ratio = reconstructionError(matrix, svd) / eckartYoungError(spectrum, rank);
      assert.ok(ratio <= 1.01, `rank ${rank}: ${ratio} times the optimum`);
    }
  });

  it('gives orthonormal columns of U and rows of V^T on a spectrum spanning three decades', async () => {
    const spectrum = Array.from({ length: 60 }, (_, i) => 10 ** (-3 * i / 59));
    const matrix = matrixWithSpectrum(200, 130, spectrum, 5);
    const svd = await truncatedSvd(matrix, 200, 130, { rank: 40, backend: js });
    assert.ok(columnLoss(svd) < 1e-5, `U: ${columnLoss(svd)}`);
    assert.ok(rowLoss(svd) < 1e-5, `V^T: ${rowLoss(svd)}`);
    for (let i = 1; i < svd.k; i++) assert.ok(svd.singularValues[i]! <= svd.singularValues[i - 1]!, 'descending');
  });

  it('has the singular values of randomizedSingularValues, which shares its range finder', async () => {
    const matrix = gaussianMatrix(90, 70, 8);
    const options = { rank: 12, seed: 4, oversampling: 10, powerIterations: 2 };
    const svd = await truncatedSvd(matrix, 90, 70, { ...options, backend: js });
    assert.deepEqual(svd.singularValues, await randomizedSingularValues(matrix, 90, 70, { ...options, backend: js }));
  });

  it('reports directions of an exactly rank-deficient matrix beyond its rank as zero, with zero vectors', async () => {
    const matrix = matrixWithSpectrum(80, 60, [3, 2, 1], 17);
    const svd = await truncatedSvd(matrix, 80, 60, { rank: 6, backend: js });
    assert.deepEqual(svd.singularValues.slice(3), [0, 0, 0]);
    for (let i = 0; i < 80; i++) for (let p = 3; p < 6; p++) assert.equal(svd.u[i * 6 + p], 0);
    assert.ok(svd.vt.subarray(3 * 60).every((value) => value === 0));
    assert.ok(columnLoss(svd, 3) < 1e-5 && rowLoss(svd, 3) < 1e-5);
  });

  it('returns k zero singular values and zero factors for a zero matrix, with the exact energy otherwise', async () => {
    const zero = await truncatedSvd(new Float32Array(12 * 7), 12, 7, { rank: 10, backend: js });
    assert.equal(zero.k, 7);
    assert.deepEqual(zero.singularValues, new Array(7).fill(0));
    assert.deepEqual(zero.u, new Float32Array(12 * 7));
    assert.deepEqual(zero.vt, new Float32Array(7 * 7));
    assert.equal(zero.energy, 0);
    const small = Float32Array.from([3, 0, 0, 4, 0, 0]);
    const svd = await truncatedSvd(small, 2, 3, { rank: 0, backend: js });
    assert.equal(svd.k, 0);
    assert.equal(svd.energy, 25);
  });

  it('gives the same bits for the same seed', async () => {
    const matrix = gaussianMatrix(50, 40, 2);
    const first = await truncatedSvd(matrix, 50, 40, { rank: 8, backend: js, seed: 3 });
    const second = await truncatedSvd(matrix, 50, 40, { rank: 8, backend: js, seed: 3 });
    assert.deepEqual(first, second);
  });

  it('honours cancellation before and between products, naming the tensor', async () => {
    const controller = new AbortController();
    controller.abort();
    const matrix = gaussianMatrix(20, 20, 1);
    const cancelled = (error: unknown) => isSurgeonError(error) && error.rule === 'cancelled' && /model\.layers\.0\.mlp/.test(error.message);
    await assert.rejects(truncatedSvd(matrix, 20, 20, { rank: 4, backend: js, signal: controller.signal, tensor: 'model.layers.0.mlp' }), cancelled);
    const later = new AbortController();
    let products = 0;
    const abortingBackend: MatrixBackend = {
      ...js,
      matmul: async (...args) => {
        if (++products === 3) later.abort();
        return js.matmul(...args);
      },
    };
    await assert.rejects(truncatedSvd(matrix, 20, 20, { rank: 4, backend: abortingBackend, signal: later.signal, tensor: 'model.layers.0.mlp' }), cancelled);
    assert.equal(products, 3);
  });

  it('refuses data that does not fit its shape, a bad rank and non-finite values', async () => {
    const usage = (error: unknown) => isSurgeonError(error) && error.rule === 'usage';
    await assert.rejects(truncatedSvd(new Float32Array(5), 2, 3, { rank: 1, backend: js }), usage);
    await assert.rejects(truncatedSvd(new Float32Array(6), 2, 3, { rank: 1.5, backend: js }), usage);
    await assert.rejects(
      truncatedSvd(Float32Array.from([1, Number.NaN, 0, 0]), 2, 2, { rank: 1, backend: js }),
      (error: unknown) => isSurgeonError(error) && error.rule === 'non-finite-matrix',
    );
  });
});

describe('symmetric eigensystem', () => {
  it('finds orthonormal eigenvectors of a 266 x 266 matrix with repeats and zeros, and the bits of the values-only path', () => {
    const n = 266;
    const eigenvalues = Array.from({ length: n }, (_, i) => (i < 4 ? 7 : i < 200 ? 0.97 ** i : 0));
    const basis = randomOrthonormalColumns(n, n, 12);
    const matrix = spectralProduct(basis, basis, n, n, eigenvalues);
    const { values, vectors } = symmetricEigensystem(Float64Array.from(matrix), n);
    assert.deepEqual(values, symmetricEigenvalues(Float64Array.from(matrix), n));
    let residual = 0;
    let orthogonality = 0;
    for (let p = 0; p < n; p++) {
      for (let r = 0; r < n; r++) {
        let product = 0;
        for (let c = 0; c < n; c++) product += matrix[r * n + c]! * vectors[p * n + c]!;
        residual = Math.max(residual, Math.abs(product - values[p]! * vectors[p * n + r]!));
      }
      for (let q = p; q < n; q++) {
        let dot = 0;
        for (let c = 0; c < n; c++) dot += vectors[p * n + c]! * vectors[q * n + c]!;
        orthogonality = Math.max(orthogonality, Math.abs(dot - (p === q ? 1 : 0)));
      }
    }
    assert.ok(residual < 1e-12 * 7, `max |M v - lambda v| = ${residual}`);
    assert.ok(orthogonality < 1e-12, `max |V V^T - I| = ${orthogonality}`);
  });

  it('handles the sizes without a reflection', () => {
    assert.deepEqual(symmetricEigensystem(new Float64Array(0), 0), { values: [], vectors: new Float64Array(0) });
    assert.deepEqual(symmetricEigensystem(new Float64Array([5]), 1), { values: [5], vectors: new Float64Array([1]) });
    const { values, vectors } = symmetricEigensystem(new Float64Array([2, 1, 1, 2]), 2);
    assert.deepEqual(values.map((value) => Math.round(value * 1e12) / 1e12), [3, 1]);
    assert.ok(Math.abs(Math.abs(vectors[0]!) - Math.SQRT1_2) < 1e-15 && Math.abs(vectors[0]! - vectors[1]!) < 1e-15);
  });
});
