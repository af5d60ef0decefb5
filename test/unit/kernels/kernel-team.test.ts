/**
 * Large fused calls split over kernel threads on the shared memory give the bits and statistics of the
 * same call on one thread.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import { createDeltaStatistics, type DeltaStatistics, type ElementwiseKernels, type KernelBuffer } from '../../../src/engine/kernels/kernels';
import { createWasmKernels, PARALLEL_MIN_ELEMENTS } from '../../../src/engine/kernels/wasm-kernels';
import { DTYPE_BYTES, seededRandom } from './kernel-test-support';

/** Many chunks for the threads to share, plus a tail that is not a multiple of the SIMD group. */
const COUNT = 3 * PARALLEL_MIN_ELEMENTS + 1_237;

function fillWeights(buffer: KernelBuffer, dtype: FloatDtype, seed: number): void {
  const random = seededRandom(seed);
  const view = new DataView(buffer.bytes.buffer, buffer.bytes.byteOffset, buffer.bytes.byteLength);
  for (let i = 0; i < COUNT; i++) {
    const bits = (Math.floor(random() * 2 ** 32) & 0x81ffffff) | 0x3c000000;
    // A few specials and exact repeats, so every counter is exercised in every part.
    const special = i % 50_021 === 7 ? 0x7fc00000 : i % 40_009 === 3 ? 0x7f800000 : undefined;
    const value = special ?? (seed === 2 && i % 5 === 0 ? undefined : bits);
    if (dtype === 'F32') view.setUint32(i * 4, value ?? view.getUint32(i * 4, true), true);
    else view.setUint16(i * 2, (value ?? 0x3c000000) >>> 16, true);
  }
}

describe('kernel threads', () => {
  let single: ElementwiseKernels;
  let team: ElementwiseKernels;
  before(async () => {
    single = await createWasmKernels({ threads: 1 });
    team = await createWasmKernels({ threads: 3 });
    // The first large call starts the helpers; wait until both are ready so the calls below are split.
    const scratch = team.allocate(PARALLEL_MIN_ELEMENTS * 2);
    team.subtract(scratch, 'BF16', scratch, 'BF16', scratch, 'BF16', PARALLEL_MIN_ELEMENTS);
    const deadline = Date.now() + 10_000;
    while (team.activeThreads() < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    team.free(scratch);
  });
  after(() => {
    team.dispose();
    single.dispose();
  });

  it('start, and run on 3 threads', () => {
    assert.equal(single.activeThreads(), 1);
    assert.equal(team.activeThreads(), 3);
  });

  for (const [dtype, outDtype, stats] of [['BF16', 'BF16', true], ['BF16', 'BF16', false], ['BF16', 'F32', true], ['BF16', 'F32', false], ['F32', 'F32', true], ['F16', 'F16', false]] as const) {
    it(`subtract ${dtype} -> ${outDtype}${stats ? ' with statistics' : ''} gives the single-thread bits`, () => {
      const results = [single, team].map((kernels) => {
        const a = kernels.allocate(COUNT * DTYPE_BYTES[dtype]);
        const b = kernels.allocate(COUNT * DTYPE_BYTES[dtype]);
        const out = kernels.allocate(COUNT * DTYPE_BYTES[outDtype]);
        fillWeights(a, dtype, 1);
        fillWeights(b, dtype, 2);
        const statistics = stats ? createDeltaStatistics() : undefined;
        kernels.subtract(a, dtype, b, dtype, out, outDtype, COUNT, statistics);
        const bytes = Buffer.from(out.bytes);
        [a, b, out].forEach((buffer) => kernels.free(buffer));
        return { bytes, statistics };
      });
      assert.ok(results[1]!.bytes.equals(results[0]!.bytes), 'same output bytes');
      if (stats) assertSameStatistics(results[1]!.statistics!, results[0]!.statistics!);
      assert.equal(team.activeThreads(), 3, 'the helpers are free again');
    });
  }

  for (const residualDtype of ['BF16', 'F32'] as const) {
    it(`addScaled bf16 + ${residualDtype.toLowerCase()} with alpha 1 gives the single-thread bits`, () => {
      const [first, second] = [single, team].map((kernels) => {
        const c = kernels.allocate(COUNT * 2);
        const r = kernels.allocate(COUNT * DTYPE_BYTES[residualDtype]);
        const out = kernels.allocate(COUNT * 2);
        fillWeights(c, 'BF16', 3);
        fillWeights(r, residualDtype, 4);
        kernels.addScaled(c, 'BF16', r, residualDtype, 1, out, 'BF16', COUNT);
        const bytes = Buffer.from(out.bytes);
        [c, r, out].forEach((buffer) => kernels.free(buffer));
        return bytes;
      });
      assert.ok(second!.equals(first!));
    });
  }

  it('after dispose the same kernels still compute, on the calling thread alone', () => {
    const kernels = team;
    kernels.dispose();
    assert.equal(kernels.activeThreads(), 1);
    const a = kernels.allocate(COUNT * 2);
    fillWeights(a, 'BF16', 1);
    const stats = createDeltaStatistics();
    kernels.subtract(a, 'BF16', a, 'BF16', a, 'BF16', COUNT, stats);
    assert.equal(stats.count, COUNT);
    assert.deepEqual([stats.sumSquares, stats.maxAbs], [0, 0], 'a - a is zero wherever it is finite');
    assert.ok(stats.nonFinite > 0 && stats.unchanged > COUNT - stats.nonFinite);
    kernels.free(a);
  });
});

function assertSameStatistics(actual: DeltaStatistics, expected: DeltaStatistics): void {
  for (const key of ['count', 'min', 'max', 'maxAbs', 'unchanged', 'nonFinite'] as const) assert.equal(actual[key], expected[key], key);
  assert.deepEqual(actual.histogram, expected.histogram, 'histogram');
  // Parts start on block boundaries, so the binary32 block sums are the same; only the order of the binary64
  // additions differs.
  for (const key of ['sum', 'sumSquares', 'baseSumSquares', 'otherSumSquares', 'dot'] as const) {
    assert.ok(Math.abs(actual[key] - expected[key]) <= 1e-12 * Math.max(1, Math.abs(expected[key]), expected.sumSquares), `${key}: ${actual[key]} vs ${expected[key]}`);
  }
}
