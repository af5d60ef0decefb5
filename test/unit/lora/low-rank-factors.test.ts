import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { chooseRank, factorDelta, relativeReconstructionError } from '../../../src/engine/lora/low-rank-factors';
import { createJsMatrixBackend } from '../../../src/engine/spectra/js-matrix-backend';
import type { MatrixBackend } from '../../../src/engine/spectra/matrix-backend';
import { createWasmMatrixBackend } from '../../../src/engine/spectra/wasm-matrix-backend';
import { gaussianMatrix, matrixWithSpectrum } from '../spectra/reference-linear-algebra';
import { eckartYoungError, residualLikeSpectrum } from '../spectra/residual-like-spectrum';

const js = createJsMatrixBackend();
const wasm = createWasmMatrixBackend();
after(async () => wasm.dispose());
const BACKENDS: ReadonlyArray<[string, MatrixBackend]> = [['js', js], ['wasm', wasm]];

/** ||Δ - B A||_F / ||Δ||_F by the textbook triple loop in f64. */
function directRelativeError(delta: Float32Array, rows: number, cols: number, b: Float32Array, a: Float32Array, rank: number): number {
  let residual = 0;
  let energy = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let product = 0;
      for (let p = 0; p < rank; p++) product += b[i * rank + p]! * a[p * cols + j]!;
      const value = delta[i * cols + j]!;
      residual += (value - product) ** 2;
      energy += value * value;
    }
  }
  return energy === 0 ? 0 : Math.sqrt(residual / energy);
}

const squares = (values: readonly number[]) => values.reduce((sum, value) => sum + value * value, 0);

describe('chooseRank', () => {
  // Shares 9/14, 13/14, 14/14 of an energy of 14.
  const values = [3, 2, 1];

  it('takes a uniform rank, capped at the full rank', () => {
    assert.equal(chooseRank(values, 14, { rank: 2 }, 3), 2);
    assert.equal(chooseRank(values, 14, { rank: 64 }, 3), 3);
    assert.equal(chooseRank(values, 14, { rank: 0 }, 3), 0);
  });

  it('takes the smallest rank whose leading values reach the energy share', () => {
    assert.equal(chooseRank(values, 14, { energy: 9 / 14, maxRank: 8 }, 3), 1);
    assert.equal(chooseRank(values, 14, { energy: 0.5, maxRank: 8 }, 3), 1);
    assert.equal(chooseRank(values, 14, { energy: 9 / 14 + 1e-4, maxRank: 8 }, 3), 2);
    assert.equal(chooseRank(values, 14, { energy: 13 / 14 + 1e-4, maxRank: 8 }, 3), 3);
  });

  it('counts energy 1 as reached at the numerical rank, though float32 products leave the sum a little short', () => {
    const computed = [3 * (1 - 2 ** -24), 2, 1 * (1 - 2 ** -23), 0, 0];
    assert.equal(chooseRank(computed, 14, { energy: 1, maxRank: 5 }, 40), 3);
  });

  it('stops at maxRank and at the full rank when the share is not reached before', () => {
    assert.equal(chooseRank(values, 14, { energy: 0.99, maxRank: 2 }, 3), 2);
    assert.equal(chooseRank([3, 2], 20, { energy: 0.99, maxRank: 8 }, 2), 2);
    assert.equal(chooseRank([3, 2, 1], 100, { energy: 0.9, maxRank: 3 }, 50), 3);
  });

  it('gives 0 for a zero matrix', () => {
    assert.equal(chooseRank([0, 0], 0, { rank: 4 }, 2), 0);
    assert.equal(chooseRank([0, 0], 0, { energy: 0.9, maxRank: 4 }, 2), 0);
  });

  it('refuses ranks that are not whole and shares outside (0, 1]', () => {
    const usage = (error: unknown) => isSurgeonError(error) && error.rule === 'usage';
    assert.throws(() => chooseRank(values, 14, { rank: 2.5 }, 3), usage);
    assert.throws(() => chooseRank(values, 14, { rank: -1 }, 3), usage);
    assert.throws(() => chooseRank(values, 14, { energy: 0, maxRank: 4 }, 3), usage);
    assert.throws(() => chooseRank(values, 14, { energy: 1.5, maxRank: 4 }, 3), usage);
    assert.throws(() => chooseRank(values, 14, { energy: 0.5, maxRank: Number.NaN }, 3), usage);
  });
});

describe('factorDelta', () => {
  for (const [name, backend] of BACKENDS) {
    it(`reconstructs deltas of known rank to 1e-4 at that rank and above (${name})`, async () => {
      const spectrum = [4, 3, 1.5, 0.75, 0.25, 0.1];
      for (const [rows, cols] of [[96, 64], [48, 112]] as const) {
        const delta = matrixWithSpectrum(rows, cols, spectrum, rows * cols);
        for (const rank of [6, 9]) {
          const factors = await factorDelta(delta, rows, cols, { rank }, { backend });
          assert.equal(factors.rank, rank);
          assert.equal(factors.b.length, rows * rank);
          assert.equal(factors.a.length, rank * cols);
          const error = await relativeReconstructionError(delta, rows, cols, factors.b, factors.a, rank, backend);
          assert.ok(error < 1e-4, `${rows} x ${cols} at rank ${rank}: ${error}`);
          assert.ok(factors.capturedEnergy > 1 - 1e-6 && factors.capturedEnergy <= 1);
        }
      }
    });
  }

  it('splits the singular values evenly: B^T B = A A^T = diag(s)', async () => {
    const [rows, cols, rank] = [70, 50, 5];
    const delta = matrixWithSpectrum(rows, cols, [5, 4, 3, 2, 1, 0.5], 9);
    const { b, a, singularValues } = await factorDelta(delta, rows, cols, { rank }, { backend: js });
    for (let p = 0; p < rank; p++) {
      for (let q = 0; q < rank; q++) {
        let bb = 0;
        let aa = 0;
        for (let i = 0; i < rows; i++) bb += b[i * rank + p]! * b[i * rank + q]!;
        for (let j = 0; j < cols; j++) aa += a[p * cols + j]! * a[q * cols + j]!;
        const expected = p === q ? singularValues[p]! : 0;
        assert.ok(Math.abs(bb - expected) < 1e-5 * 5 && Math.abs(aa - expected) < 1e-5 * 5, `(${p}, ${q}): ${bb}, ${aa}`);
      }
    }
  });

  it('stays within 1% of the Eckart-Young optimum at lower ranks, as measured on the factors', async () => {
    const [rows, cols] = [200, 150];
    const spectrum = residualLikeSpectrum(cols, 1, 0.8);
    const delta = matrixWithSpectrum(rows, cols, spectrum, 33);
    const norm = Math.sqrt(squares(spectrum));
    for (const rank of [8, 24]) {
      const factors = await factorDelta(delta, rows, cols, { rank }, { backend: wasm });
      const error = await relativeReconstructionError(delta, rows, cols, factors.b, factors.a, rank, wasm);
      const ratio = error / (eckartYoungError(spectrum, rank) / norm);
      assert.ok(ratio <= 1.01, `rank ${rank}: ${ratio} times the optimum`);
      // B A projects Δ onto the leading singular directions found, so the energy it leaves out is the error's.
      assert.ok(Math.abs(1 - factors.capturedEnergy - error ** 2) < 1e-5, `captured ${factors.capturedEnergy}, error ${error}`);
      assert.ok(factors.capturedEnergy <= squares(spectrum.slice(0, rank)) / squares(spectrum) + 1e-6, 'at most the optimal share');
    }
  });

  it('chooses the rank from the energy share, from an SVD at maxRank', async () => {
    const [rows, cols] = [90, 60];
    const spectrum = [8, 4, 2, 1, 0.5, 0.25, 0.125];
    const delta = matrixWithSpectrum(rows, cols, spectrum, 21);
    const total = squares(spectrum);
    // 64 + 16 = 80 of 85.33: 93.75%; with 4, 81 of 85.33: 94.9%.
    const factors = await factorDelta(delta, rows, cols, { energy: 0.94, maxRank: 6 }, { backend: js });
    assert.equal(factors.rank, 3);
    assert.equal(factors.singularValues.length, 6);
    assert.equal(factors.b.length, rows * 3);
    assert.equal(factors.a.length, 3 * cols);
    assert.ok(Math.abs(factors.capturedEnergy - squares(spectrum.slice(0, 3)) / total) < 1e-6);
    assert.ok(Math.abs(factors.energy - total) < 1e-5 * total);
    const capped = await factorDelta(delta, rows, cols, { energy: 0.999999, maxRank: 5 }, { backend: js });
    assert.equal(capped.rank, 5);
  });

  it('gives rank 0 and no factors for a zero delta', async () => {
    for (const selection of [{ rank: 8 }, { energy: 0.9, maxRank: 8 }]) {
      const factors = await factorDelta(new Float32Array(30 * 20), 30, 20, selection, { backend: js });
      assert.deepEqual(
        { rank: factors.rank, b: factors.b, a: factors.a, energy: factors.energy, capturedEnergy: factors.capturedEnergy },
        { rank: 0, b: new Float32Array(0), a: new Float32Array(0), energy: 0, capturedEnergy: 1 },
      );
    }
  });

  it('honours cancellation, naming the tensor', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      factorDelta(gaussianMatrix(20, 10, 1), 20, 10, { rank: 4 }, { backend: js, signal: controller.signal, tensor: 'model.layers.3.self_attn.q_proj.weight' }),
      (error: unknown) => isSurgeonError(error) && error.rule === 'cancelled' && error.message.includes('q_proj'),
    );
  });
});

describe('relativeReconstructionError', () => {
  // 2100 rows of 2048 columns are two blocks of B A, the second partial.
  const cases = [[37, 23, 3], [2100, 2048, 2]].map(([rows, cols, rank]) => {
    const delta = gaussianMatrix(rows!, cols!, rows!);
    const b = gaussianMatrix(rows!, rank!, 2);
    const a = gaussianMatrix(rank!, cols!, 3).map((value) => value * 0.1);
    return { rows: rows!, cols: cols!, rank: rank!, delta, b, a, direct: directRelativeError(delta, rows!, cols!, b, a, rank!) };
  });
  for (const [name, backend] of BACKENDS) {
    it(`agrees with a direct f64 computation, across blocks of rows (${name})`, async () => {
      for (const { rows, cols, rank, delta, b, a, direct } of cases) {
        const measured = await relativeReconstructionError(delta, rows, cols, b, a, rank, backend);
        assert.ok(Math.abs(measured - direct) < 1e-6 * direct, `${rows} x ${cols}: ${measured} vs ${direct}`);
      }
    });
  }

  it('is 0 for a zero delta, 1 at rank 0, and refuses factors that do not fit', async () => {
    assert.equal(await relativeReconstructionError(new Float32Array(6), 2, 3, new Float32Array(2), new Float32Array(3), 1, js), 0);
    assert.equal(await relativeReconstructionError(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3, new Float32Array(0), new Float32Array(0), 0, js), 1);
    await assert.rejects(
      relativeReconstructionError(new Float32Array(6), 2, 3, new Float32Array(3), new Float32Array(3), 1, js),
      (error: unknown) => isSurgeonError(error) && error.rule === 'usage',
    );
  });
});
