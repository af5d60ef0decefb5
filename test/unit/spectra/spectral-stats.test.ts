import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { createJsMatrixBackend } from '../../../src/engine/spectra/js-matrix-backend';
import { MAX_SPECTRAL_ELEMENTS, fitsSpectralBudget, spectralStats } from '../../../src/engine/spectra/spectral-stats';
import { gaussianMatrix, matrixWithSpectrum } from './reference-linear-algebra';

const backend = createJsMatrixBackend();

/** Energy shares are ratios of sums of squares; float32 input moves them by about 2 * 2^-24. */
const SHARE_TOLERANCE = 1e-6;

function energyOf(spectrum: readonly number[], upTo = spectrum.length): number {
  return spectrum.slice(0, upTo).reduce((sum, value) => sum + value * value, 0);
}

describe('spectral statistics', () => {
  it('reports energy shares and the Frobenius norm of a known spectrum', async () => {
    const spectrum = Array.from({ length: 200 }, (_, i) => 0.9 ** i);
    const matrix = matrixWithSpectrum(320, 280, spectrum, 5);
    const stats = await spectralStats(matrix, 320, 280, { backend, k: 64, seed: 7 });
    assert.equal(stats.rows, 320);
    assert.equal(stats.cols, 280);
    assert.equal(stats.k, 64);
    assert.equal(stats.singularValues.length, 64);
    assert.equal(stats.provider, 'plain JavaScript');
    const total = energyOf(spectrum);
    assert.ok(Math.abs(stats.frobeniusNorm - Math.sqrt(total)) <= 1e-6 * Math.sqrt(total));
    for (const rank of [8, 16, 64] as const) {
      const share = stats.energyAtRank[rank];
      assert.ok(share !== null && Math.abs(share - energyOf(spectrum, rank) / total) <= SHARE_TOLERANCE, `rank ${rank}: ${share}`);
    }
    // 256 is beyond the 64 values computed and below min(rows, cols): unknown, not guessed.
    assert.equal(stats.energyAtRank[256], null);
  });

  it('reports all the energy at ranks reaching min(rows, cols)', async () => {
    const matrix = gaussianMatrix(40, 12, 8);
    const stats = await spectralStats(matrix, 40, 12, { backend, k: 8 });
    assert.equal(stats.energyAtRank[16], 1);
    assert.equal(stats.energyAtRank[256], 1);
    assert.ok(stats.energyAtRank[8]! > 0.5 && stats.energyAtRank[8]! < 1);
  });

  it('measures the effective rank as exp(entropy) of the normalised singular values', async () => {
    // r equal singular values: p_i = 1/r and exp(H) = r exactly.
    const flat = await spectralStats(matrixWithSpectrum(90, 70, [3, 3, 3, 3, 3, 3], 12), 90, 70, { backend, k: 6 });
    assert.ok(Math.abs(flat.effectiveRank - 6) < 1e-4, `flat: ${flat.effectiveRank}`);
    const rankOne = await spectralStats(matrixWithSpectrum(50, 30, [4], 13), 50, 30, { backend, k: 8 });
    assert.ok(Math.abs(rankOne.effectiveRank - 1) < 1e-4, `rank one: ${rankOne.effectiveRank}`);
    // Two values 2:1 give p = (2/3, 1/3), H = ln 3 - (2/3) ln 2 and exp(H) = 3 / 2^(2/3).
    const twoToOne = await spectralStats(matrixWithSpectrum(40, 40, [2, 1], 14), 40, 40, { backend, k: 2 });
    assert.ok(Math.abs(twoToOne.effectiveRank - 3 / 2 ** (2 / 3)) < 1e-4, `2:1: ${twoToOne.effectiveRank}`);
  });

  it('describes a zero matrix without dividing by zero', async () => {
    const stats = await spectralStats(new Float32Array(15 * 10), 15, 10, { backend, k: 4 });
    assert.deepEqual(stats.singularValues, [0, 0, 0, 0]);
    assert.equal(stats.frobeniusNorm, 0);
    assert.equal(stats.effectiveRank, 0);
    assert.deepEqual(stats.energyAtRank, { 8: null, 16: null, 64: null, 256: null });
  });

  it('refuses NaN, mismatched data, bad k and matrices over the memory bound, naming the tensor', async () => {
    const withNaN = gaussianMatrix(4, 4, 1);
    withNaN[5] = Number.NaN;
    await assert.rejects(spectralStats(withNaN, 4, 4, { backend, tensor: 'model.layers.0.mlp.up_proj.weight' }), (error) =>
      isSurgeonError(error) && error.rule === 'non-finite-matrix' && error.message.includes('up_proj'));
    await assert.rejects(spectralStats(new Float32Array(5), 2, 3, { backend }), (error) => isSurgeonError(error) && error.rule === 'usage');
    await assert.rejects(spectralStats(new Float32Array(4), 2, 2, { backend, k: 0 }), (error) => isSurgeonError(error) && error.rule === 'usage');
    // The shape alone is refused, before anyone materialises 2^28 + 2^14 floats.
    await assert.rejects(spectralStats(new Float32Array(0), 2 ** 14 + 1, 2 ** 14, { backend }), (error) =>
      isSurgeonError(error) && error.rule === 'matrix-too-large');
    assert.equal(fitsSpectralBudget(8192, 28672), true);
    assert.equal(fitsSpectralBudget(128256, 4096), false);
    assert.equal(fitsSpectralBudget(MAX_SPECTRAL_ELEMENTS, 1), true);
  });
});
