import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { createJsMatrixBackend } from '../../../src/engine/spectra/js-matrix-backend';
import type { MatrixBackend } from '../../../src/engine/spectra/matrix-backend';
import { loadMatrixBackend } from '../../../src/spectra-backends/load-matrix-backend';
import { gaussianMatrix, referenceFloat64Products, referenceProduct } from './reference-linear-algebra';

const F32_UNIT_ROUNDOFF = 2 ** -24;

/** Sizes that cross the JS backend's 128-row blocks and are not multiples of any vector width. */
const CASES: Array<{ aShape: [number, number]; bCols: number; transposeA: boolean }> = [
  { aShape: [130, 257], bCols: 7, transposeA: false },
  { aShape: [257, 130], bCols: 9, transposeA: true },
  { aShape: [1, 300], bCols: 1, transposeA: false },
  { aShape: [3, 2], bCols: 5, transposeA: true },
];

function operands(aShape: [number, number], bCols: number, transposeA: boolean, seed: number) {
  const bRows = transposeA ? aShape[0] : aShape[1];
  const a = gaussianMatrix(aShape[0], aShape[1], seed);
  const b = gaussianMatrix(bRows, bCols, seed + 100);
  return { a, b, bShape: [bRows, bCols] as [number, number] };
}

/**
 * A float32 product that sums k terms is within k * u * (|A| |B|)_ij of the exact value (Higham,
 * Accuracy and Stability, 3.5): this holds for any summation order, so for any BLAS.
 */
function assertWithinFloat32ProductBound(
  actual: Float32Array, a: Float32Array, aShape: [number, number], b: Float32Array, bShape: [number, number], transposeA: boolean,
): void {
  const exact = referenceProduct(a, aShape, b, bShape, transposeA);
  const magnitude = referenceProduct(a.map(Math.abs), aShape, b.map(Math.abs), bShape, transposeA);
  const k = transposeA ? aShape[0] : aShape[1];
  assert.equal(actual.length, exact.length);
  for (let i = 0; i < exact.length; i++) {
    const bound = (k + 1) * F32_UNIT_ROUNDOFF * magnitude[i]!;
    assert.ok(Math.abs(actual[i]! - exact[i]!) <= bound, `element ${i}: ${actual[i]} vs ${exact[i]} (bound ${bound})`);
  }
}

describe('plain JavaScript matrix backend', () => {
  const backend = createJsMatrixBackend();

  for (const { aShape, bCols, transposeA } of CASES) {
    it(`rounds the exact ${transposeA ? 'A^T @ B' : 'A @ B'} once for A [${aShape.join(', ')}]`, async () => {
      const { a, b, bShape } = operands(aShape, bCols, transposeA, aShape[0] * 7 + bCols);
      const product = await backend.matmul(a, aShape, b, bShape, transposeA);
      const exact = referenceProduct(a, aShape, b, bShape, transposeA);
      assert.equal(product.length, exact.length);
      // Sums are carried in f64 and rounded once, so each element is the f32 nearest the exact
      // value up to the f64 summation error (far below one f32 ulp but able to tip a tie).
      for (let i = 0; i < exact.length; i++) {
        assert.ok(Math.abs(product[i]! - exact[i]!) <= F32_UNIT_ROUNDOFF * Math.abs(exact[i]!) * 1.0001, `element ${i}`);
      }
    });
  }

  it('refuses operands that do not fit their shapes or each other', async () => {
    const a = new Float32Array(6);
    await assert.rejects(backend.matmul(a, [2, 3], new Float32Array(8), [4, 2]), (error) => isSurgeonError(error) && error.rule === 'shape-mismatch');
    await assert.rejects(backend.matmul(a, [2, 2], new Float32Array(4), [2, 2]), (error) => isSurgeonError(error) && error.rule === 'usage');
    await assert.rejects(backend.matmul(a, [2, 3], new Float32Array(6), [3, 2], true), (error) => isSurgeonError(error) && error.rule === 'shape-mismatch');
  });
});

describe('onnxruntime-node matrix backend', () => {
  let ort: MatrixBackend | undefined;
  let unavailable: string | false = false;

  before(async () => {
    try {
      ort = (await loadMatrixBackend('ort')).backend;
    } catch (error) {
      unavailable = `onnxruntime-node is not installed here: ${String(error)}`;
    }
  });

  for (const { aShape, bCols, transposeA } of CASES) {
    it(`computes ${transposeA ? 'A^T @ B' : 'A @ B'} within the float32 bound for A [${aShape.join(', ')}]`, async (t) => {
      if (unavailable) return t.skip(unavailable);
      const { a, b, bShape } = operands(aShape, bCols, transposeA, aShape[1] * 3 + bCols);
      const product = await ort!.matmul(a, aShape, b, bShape, transposeA);
      assertWithinFloat32ProductBound(product, a, aShape, b, bShape, transposeA);
    });
  }

  it('agrees with the plain JavaScript backend on a panel product of the spectral pass', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const aShape: [number, number] = [300, 200];
    const { a, b, bShape } = operands(aShape, 26, false, 42);
    const viaOrt = await ort!.matmul(a, aShape, b, bShape);
    const viaJs = await createJsMatrixBackend().matmul(a, aShape, b, bShape);
    assertWithinFloat32ProductBound(viaOrt, a, aShape, b, bShape, false);
    assertWithinFloat32ProductBound(viaJs, a, aShape, b, bShape, false);
  });

  it('runs the f64 products of block Gram-Schmidt to f64 rounding', async (t) => {
    if (unavailable) return t.skip(unavailable);
    const f64 = ort!.f64!;
    const random = (count: number, seed: number) => Float64Array.from(gaussianMatrix(count, 1, seed));
    const [k, m, n] = [5, 9, 37];
    const a = random(m * n, 7); // (m x n) for A B^T with B (k x n)
    const b = random(k * n, 8);
    const coefficients = await f64.timesTransposed(a, m, b, k, n);
    const expected = await referenceFloat64Products.timesTransposed(a, m, b, k, n);
    coefficients.forEach((value, i) => assert.ok(Math.abs(value - expected[i]!) <= 1e-13 * n, `A B^T [${i}]`));
    const y = random(m * n, 9);
    const c = random(k * m, 10);
    const rest = await f64.minusTransposedTimes(y, c, b, k, m, n);
    const expectedRest = await referenceFloat64Products.minusTransposedTimes(y, c, b, k, m, n);
    rest.forEach((value, i) => assert.ok(Math.abs(value - expectedRest[i]!) <= 1e-13 * k, `Y - C^T B [${i}]`));
    assert.notDeepEqual(rest, y);
  });

  it('returns empty and zero products without calling into ONNX Runtime', async (t) => {
    if (unavailable) return t.skip(unavailable);
    assert.deepEqual(await ort!.matmul(new Float32Array(0), [0, 3], new Float32Array(6), [3, 2]), new Float32Array(0));
    assert.deepEqual(await ort!.matmul(new Float32Array(0), [2, 0], new Float32Array(0), [0, 3]), new Float32Array(6));
  });
});
