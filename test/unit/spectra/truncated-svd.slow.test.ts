import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { truncatedSvd, type TruncatedSvd } from '../../../src/engine/spectra/truncated-svd';
import { createWasmMatrixBackend } from '../../../src/engine/spectra/wasm-matrix-backend';
import { matrixWithSpectrum } from './reference-linear-algebra';
import { eckartYoungError, residualLikeSpectrum } from './residual-like-spectrum';

const backend = createWasmMatrixBackend();
after(async () => backend.dispose());

/** ||A - U diag(s) V^T||_F in f64, a row at a time. */
function reconstructionError(matrix: Float32Array, svd: TruncatedSvd): number {
  const { rows, cols, k, u, vt, singularValues } = svd;
  const row = new Float64Array(cols);
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) row[j] = matrix[i * cols + j]!;
    for (let p = 0; p < k; p++) {
      const scale = u[i * k + p]! * singularValues[p]!;
      for (let j = 0; j < cols; j++) row[j] = row[j]! - scale * vt[p * cols + j]!;
    }
    for (let j = 0; j < cols; j++) sum += row[j]! * row[j]!;
  }
  return Math.sqrt(sum);
}

describe('truncated SVD defaults on residual-sized matrices', () => {
  // The spectra where the default power iterations and oversampling were hardest pressed (see
  // truncated-svd.ts): a noise bulk with most of the energy, and a flat power law without one.
  const [rows, cols] = [1024, 768];
  for (const [alpha, noiseShare] of [[1, 0.8], [0.3, 0]] as const) {
    it(`keeps the rank-r error within 1% of the Eckart-Young optimum: s_i ~ i^-${alpha}, ${noiseShare * 100}% noise`, async (t) => {
      const spectrum = residualLikeSpectrum(cols, alpha, noiseShare);
      const matrix = matrixWithSpectrum(rows, cols, spectrum, 7);
      for (const rank of [16, 64, 256]) {
        const svd = await truncatedSvd(matrix, rows, cols, { rank, backend });
        const ratio = reconstructionError(matrix, svd) / eckartYoungError(spectrum, rank);
        t.diagnostic(`rank ${rank}: ${((ratio - 1) * 100).toFixed(3)}% above the optimum`);
        assert.ok(ratio <= 1.01, `rank ${rank}: ${ratio} times the optimum`);
      }
    });
  }
});
