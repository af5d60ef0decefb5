import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSurgeonError } from '../../../src/engine/errors';
import { createBuiltInMatrixBackend } from '../../../src/engine/spectra/built-in-matrix-backend';
import { createJsMatrixBackend } from '../../../src/engine/spectra/js-matrix-backend';
import { spectralStats } from '../../../src/engine/spectra/spectral-stats';
import { createWasmMatrixBackend, type ProductBlocks, type WasmMatrixBackend } from '../../../src/engine/spectra/wasm-matrix-backend';
import { gaussianMatrix, matrixWithSpectrum, referenceFloat64Products, referenceProduct } from './reference-linear-algebra';

/** Blocks small enough that the cases below cross every block edge, with odd row counts in the last block. */
const SMALL_BLOCKS: ProductBlocks = { direct: { rows: 6, depth: 5 }, transposed: { rows: 10, depth: 3 } };

/** Operands with exact zeros, negative zeros, subnormals and large values mixed into Gaussian entries. */
function awkwardMatrix(rows: number, cols: number, seed: number): Float32Array {
  const matrix = gaussianMatrix(rows, cols, seed);
  const specials = [0, -0, 1e-40, -3e-42, 6e4, -1e-30];
  for (let i = seed % 5; i < matrix.length; i += 7) matrix[i] = specials[i % specials.length]!;
  return matrix;
}

/** Waits until every helper thread of `backend` has started, so that products are shared. */
async function allThreadsReady(backend: WasmMatrixBackend, threads: number): Promise<void> {
  for (let waited = 0; backend.readyThreads() < threads; waited += 10) {
    if (waited > 20_000) assert.fail(`${backend.readyThreads()} of ${threads} threads started`);
    await sleep(10);
  }
}

function assertSameBits(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, label);
  const actualBits = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const expectedBits = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actualBits[i] !== expectedBits[i]) assert.fail(`${label}: element ${i} is ${actual[i]}, the JS backend gives ${expected[i]}`);
  }
}

describe('WebAssembly SIMD matrix backend', () => {
  const js = createJsMatrixBackend();
  const backends: WasmMatrixBackend[] = [];
  /** A backend disposed after the suite (helper threads would otherwise idle until exit). */
  const wasmBackend = (...args: Parameters<typeof createWasmMatrixBackend>): WasmMatrixBackend => {
    const backend = createWasmMatrixBackend(...args);
    backends.push(backend);
    return backend;
  };
  after(async () => {
    for (const backend of backends) await backend.dispose();
  });
  const shapes: Array<{ m: number; k: number; n: number }> = [
    { m: 1, k: 1, n: 1 },
    { m: 7, k: 13, n: 5 },
    { m: 33, k: 17, n: 74 },
    { m: 40, k: 9, n: 16 },
    { m: 130, k: 257, n: 7 },
  ];

  for (const [blocks, threads] of [[SMALL_BLOCKS, 1], [SMALL_BLOCKS, 3], [undefined, 1]] as const) {
    for (const { m, k, n } of shapes) {
      it(`gives the JS backend's bits for A @ B and A^T @ B, ${m} x ${k} by ${n} columns, ${blocks ? 'small' : 'default'} blocks, ${threads} threads`, async () => {
        const backend = wasmBackend({ ...(blocks ? { blocks } : {}), threads });
        await allThreadsReady(backend, threads);
        const a = awkwardMatrix(m, k, m + k + n);
        const b = awkwardMatrix(k, n, m * 3 + n);
        assertSameBits(await backend.matmul(a, [m, k], b, [k, n]), await js.matmul(a, [m, k], b, [k, n]), 'A @ B');
        const c = awkwardMatrix(m, n, k * 5 + 1);
        assertSameBits(await backend.matmul(a, [m, k], c, [m, n], true), await js.matmul(a, [m, k], c, [m, n], true), 'A^T @ C');
      });
    }
  }

  it('rounds the exact product once (an independent f64 reference)', async () => {
    const a = gaussianMatrix(21, 300, 4);
    const b = gaussianMatrix(300, 11, 5);
    const product = await wasmBackend({ blocks: SMALL_BLOCKS, threads: 1 }).matmul(a, [21, 300], b, [300, 11]);
    const exact = referenceProduct(a, [21, 300], b, [300, 11], false);
    exact.forEach((value, i) => assert.ok(Math.abs(product[i]! - value) <= 2 ** -24 * Math.abs(value) * 1.0001, `element ${i}`));
  });

  it('keeps no state between products: a smaller product after a larger one, and memory left dirty', async () => {
    const backend = wasmBackend({ blocks: SMALL_BLOCKS, threads: 2 });
    const large = { a: awkwardMatrix(50, 40, 1), b: awkwardMatrix(40, 30, 2) };
    const small = { a: awkwardMatrix(5, 3, 3), b: awkwardMatrix(3, 2, 4) };
    const expectedSmall = await js.matmul(small.a, [5, 3], small.b, [3, 2]);
    await backend.matmul(large.a, [50, 40], large.b, [40, 30]);
    assertSameBits(await backend.matmul(small.a, [5, 3], small.b, [3, 2]), expectedSmall, 'small after large');
    assertSameBits(await backend.matmul(large.a, [50, 40], large.b, [40, 30]), await js.matmul(large.a, [50, 40], large.b, [40, 30]), 'large again');
  });

  it('shares the blocks of a product among its threads', async () => {
    const backend = wasmBackend({ blocks: { direct: { rows: 2, depth: 4096 }, transposed: SMALL_BLOCKS.transposed }, threads: 2 });
    await allThreadsReady(backend, 2);
    const a = awkwardMatrix(400, 2048, 11);
    const b = awkwardMatrix(2048, 256, 12);
    const expected = await js.matmul(a, [400, 2048], b, [2048, 256]);
    // Whether the helper wakes before this thread has claimed every block is up to the scheduler; with
    // 200 blocks of 2 MFLOP in each of ten products, it runs some.
    const perThread = [0, 0];
    for (let run = 0; run < 10; run++) {
      assertSameBits(await backend.matmul(a, [400, 2048], b, [2048, 256]), expected, `run ${run}`);
      assert.equal(backend.lastBlocksRun.reduce((sum, blocks) => sum + blocks, 0), 200);
      backend.lastBlocksRun.forEach((blocks, thread) => { perThread[thread]! += blocks; });
    }
    assert.ok(perThread.every((blocks) => blocks > 0), `blocks per thread: ${perThread.join(', ')}`);
  });

  it('multiplies a matrix built in its matrixStorage in place, and a copy of any other array beside it', async () => {
    const backend = wasmBackend({ blocks: SMALL_BLOCKS, threads: 1 });
    const a = awkwardMatrix(30, 20, 21);
    const b = awkwardMatrix(20, 9, 22);
    const c = awkwardMatrix(30, 9, 23);
    const lent = backend.matrixStorage(a.length);
    assert.ok(lent.buffer instanceof SharedArrayBuffer);
    lent.set(a);
    const other = awkwardMatrix(30, 20, 24);
    assertSameBits(await backend.matmul(other, [30, 20], b, [20, 9]), await js.matmul(other, [30, 20], b, [20, 9]), 'another array');
    assert.deepEqual(lent, a, 'the product of another array leaves the lent matrix alone');
    assertSameBits(await backend.matmul(lent, [30, 20], b, [20, 9]), await js.matmul(a, [30, 20], b, [20, 9]), 'lent, A @ B');
    assertSameBits(await backend.matmul(lent, [30, 20], c, [30, 9], true), await js.matmul(a, [30, 20], c, [30, 9], true), 'lent, A^T @ C');
    // A larger matrix later grows the storage; the odd last row block reads one row past a matrix that ends the region.
    const larger = backend.matrixStorage(31 * 40);
    const d = awkwardMatrix(31, 40, 25);
    const e = awkwardMatrix(40, 3, 26);
    larger.set(d);
    assertSameBits(await backend.matmul(larger, [31, 40], e, [40, 3]), await js.matmul(d, [31, 40], e, [40, 3]), 'larger lent matrix');
  });

  it('returns zeros for an empty shared dimension and empty results for empty operands', async () => {
    const backend = wasmBackend();
    assert.deepEqual(await backend.matmul(new Float32Array(0), [2, 0], new Float32Array(0), [0, 3]), new Float32Array(6));
    assert.deepEqual(await backend.matmul(new Float32Array(0), [0, 3], new Float32Array(6), [3, 2]), new Float32Array(0));
    assert.deepEqual(await backend.matmul(new Float32Array(0), [0, 3], new Float32Array(0), [0, 2], true), new Float32Array(6));
  });

  it('refuses operands that do not fit their shapes or each other', async () => {
    const backend = wasmBackend({ threads: 1 });
    const a = new Float32Array(6);
    await assert.rejects(backend.matmul(a, [2, 3], new Float32Array(8), [4, 2]), (error) => isSurgeonError(error) && error.rule === 'shape-mismatch');
    await assert.rejects(backend.matmul(a, [2, 2], new Float32Array(4), [2, 2]), (error) => isSurgeonError(error) && error.rule === 'usage');
  });

  for (const threads of [1, 3]) {
    it(`runs the f64 products of block Gram-Schmidt with the bits of plain loops, ${threads} threads`, async () => {
      const backend = wasmBackend({ threads });
      await allThreadsReady(backend, threads);
      const f64 = backend.f64!;
      const random = (count: number, seed: number): Float64Array => Float64Array.from(awkwardMatrix(count, 1, seed), (value) => value * 1.000000123);
      // A B^T: more steps than one depth block (512), a block of 32 and a block of 5 against odd row counts.
      for (const [m, n, k] of [[32, 75, 600], [5, 9, 37], [1, 1, 1]] as const) {
        const a = random(m * k, m + k);
        const b = random(n * k, n + k);
        assert.deepEqual(await f64.timesTransposed(a, m, b, n, k), await referenceFloat64Products.timesTransposed(a, m, b, n, k), `A B^T ${m} ${n} ${k}`);
      }
      // Y - A^T B: 32 steps against later columns (m) of 70 rows (n, not a multiple of 8), and small odd cases.
      for (const [k, m, n] of [[32, 75, 70], [3, 1, 1], [5, 8, 16]] as const) {
        const y = random(m * n, k + 1);
        const a = random(k * m, k + 2);
        const b = random(k * n, k + 3);
        const expected = await referenceFloat64Products.minusTransposedTimes(y, a, b, k, m, n);
        assert.deepEqual(await f64.minusTransposedTimes(y, a, b, k, m, n), expected, `Y - A^T B ${k} ${m} ${n}`);
        assert.notDeepEqual(expected, y);
      }
      assert.deepEqual(await f64.timesTransposed(new Float64Array(0), 0, new Float64Array(6), 2, 3), new Float64Array(0));
      const y = random(6, 9);
      assert.deepEqual(await f64.minusTransposedTimes(y, new Float64Array(0), new Float64Array(0), 0, 2, 3), y);
    });
  }

  it('gives the spectral statistics the bits of its two kinds of products done by plain loops', async () => {
    // 74 samples take three blocks of 32 columns, so the f64 products orthonormalise them.
    const matrix = matrixWithSpectrum(240, 160, Array.from({ length: 100 }, (_, i) => 0.85 ** i), 9);
    const viaWasm = await spectralStats(matrix, 240, 160, { backend: wasmBackend({ threads: 3 }), k: 64, seed: 3 });
    const viaLoops = await spectralStats(matrix, 240, 160, { backend: { ...js, f64: referenceFloat64Products }, k: 64, seed: 3 });
    assert.deepEqual(viaWasm.singularValues, viaLoops.singularValues);
    const viaJs = await spectralStats(matrix, 240, 160, { backend: js, k: 64, seed: 3 });
    viaWasm.singularValues.forEach((value, i) => assert.ok(Math.abs(value - viaJs.singularValues[i]!) <= 2e-5, `s_${i + 1} against the unblocked sweep`));
    assert.equal(viaWasm.provider, 'WebAssembly SIMD, 3 threads');
    assert.equal(wasmBackend({ threads: 1 }).provider, 'WebAssembly SIMD, 1 thread');
    assert.equal(viaJs.provider, 'plain JavaScript');
  });

  it('is the built-in backend where the runtime has WebAssembly SIMD, plain JavaScript otherwise', async () => {
    const builtIn = createBuiltInMatrixBackend();
    assert.equal(builtIn.name, 'wasm-simd');
    await builtIn.dispose?.();
    assert.equal(createBuiltInMatrixBackend(false).name, 'js');
  });
});
