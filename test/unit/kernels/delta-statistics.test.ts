/**
 * Statistics of subtract against an independent binary64 computation, in one call and in chunks, for the
 * fused and the block paths of both implementations; histogram re-binning on known data; merging.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import {
  createDeltaStatistics, finalizeHistogram, loadKernels, mergeDeltaStatistics, type DeltaStatistics, type ElementwiseKernels,
} from '../../../src/engine/kernels/kernels';
import { f32ToBits } from '../../../src/engine/numerics/float-bits';
import { bitsOf, bufferOf, seededRandom, valueOf, type ElementBits } from './kernel-test-support';

/** Sums may differ in the last bits with summation order; everything else must match exactly. */
const SUM_TOLERANCE = 1e-12;
/**
 * The fused bfloat16 kernel sums in binary32 lanes over blocks of 16 terms a lane before binary64, so each
 * block sum is within 16 units in the last place of binary32 (2^-24) of the exact one.
 */
const BLOCK_SUM_TOLERANCE = 16 * 2 ** -24;

function expectedStatistics(aDtype: FloatDtype, a: ElementBits[], bDtype: FloatDtype, b: ElementBits[]): DeltaStatistics {
  const stats = createDeltaStatistics();
  stats.count = a.length;
  for (let i = 0; i < a.length; i++) {
    const x = Math.fround(valueOf(aDtype, a[i]!));
    const y = Math.fround(valueOf(bDtype, b[i]!));
    const d = Math.fround(y - x);
    if (x === y) stats.unchanged++;
    stats.histogram[f32ToBits(d) >>> 16]! += 1;
    if (!Number.isFinite(d)) {
      stats.nonFinite++;
      continue;
    }
    stats.sum += d;
    stats.sumSquares += d * d;
    stats.baseSumSquares += x * x;
    stats.otherSumSquares += y * y;
    stats.dot += x * y;
    stats.min = Math.min(stats.min, d);
    stats.max = Math.max(stats.max, d);
  }
  stats.min += 0;
  stats.max += 0;
  stats.maxAbs = Math.max(-stats.min, stats.max);
  return stats;
}

function assertStatistics(actual: DeltaStatistics, expected: DeltaStatistics, label: string, tolerance = SUM_TOLERANCE): void {
  for (const key of ['sum', 'sumSquares', 'baseSumSquares', 'otherSumSquares', 'dot'] as const) {
    const scale = Math.max(1, Math.abs(expected[key]), expected.sumSquares, expected.baseSumSquares);
    assert.ok(Math.abs(actual[key] - expected[key]) <= tolerance * scale, `${label} ${key}: ${actual[key]} vs ${expected[key]}`);
  }
  for (const key of ['count', 'min', 'max', 'maxAbs', 'unchanged', 'nonFinite'] as const) {
    assert.equal(actual[key], expected[key], `${label} ${key}`);
  }
  assert.deepEqual(actual.histogram, expected.histogram, `${label} histogram`);
}

/** bfloat16-like weights: the instruct model changes most of them a little, some not at all, a few to specials. */
function weights(dtype: FloatDtype, count: number): [ElementBits[], ElementBits[]] {
  const random = seededRandom(77);
  const a: ElementBits[] = [];
  const b: ElementBits[] = [];
  for (let i = 0; i < count; i++) {
    const base = (random() - 0.5) * 0.1;
    const roll = random();
    const other = roll < 0.2 ? base : roll < 0.21 ? [Infinity, Number.NaN, -Infinity][i % 3]! : base + (random() - 0.5) * 1e-3;
    a.push(bitsOf(dtype, base));
    b.push(bitsOf(dtype, other));
  }
  return [a, b];
}

describe('delta statistics', () => {
  let implementations: ElementwiseKernels[] = [];
  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });

  const count = 50_003;
  for (const [dtype, outDtype] of [['BF16', 'BF16'], ['BF16', 'F32'], ['F32', 'F32'], ['F16', 'BF16'], ['F64', 'F32'], ['F64', 'F64']] as const) {
    it(`${dtype} -> ${outDtype}: whole, and in uneven chunks`, () => {
      const [a, b] = weights(dtype, count);
      const expected = expectedStatistics(dtype, a, dtype, b);
      assert.ok(expected.unchanged > 0 && expected.nonFinite > 0, 'the data must exercise every counter');
      for (const kernels of implementations) {
        const aBuffer = bufferOf(kernels, dtype, a);
        const bBuffer = bufferOf(kernels, dtype, b);
        const out = kernels.allocate(count * 8);
        const whole = createDeltaStatistics();
        kernels.subtract(aBuffer, dtype, bBuffer, dtype, out, outDtype, count, whole);
        if (dtype === 'F64') {
          // Any F64 operand computes in binary64: compare the counters that do not depend on the precision.
          assert.equal(whole.unchanged, expected.unchanged);
          assert.equal(whole.nonFinite, expected.nonFinite);
          continue;
        }
        const tolerance = kernels.name === 'wasm-simd' && dtype === 'BF16' ? BLOCK_SUM_TOLERANCE : SUM_TOLERANCE;
        assertStatistics(whole, expected, `${kernels.name} whole`, tolerance);
        // Chunks of 1000 + 7 elements: each ends in a SIMD tail; merged they give the same statistics.
        const size = dtype === 'F32' ? 4 : 2;
        const chunks: DeltaStatistics[] = [];
        for (let start = 0; start < count; start += 1007) {
          const length = Math.min(1007, count - start);
          const stats = createDeltaStatistics();
          kernels.subtract(
            aBuffer.view(start * size, length * size), dtype, bBuffer.view(start * size, length * size), dtype,
            out.view(start * 8, length * 8), outDtype, length, stats,
          );
          chunks.push(stats);
        }
        assertStatistics(chunks.reduce(mergeDeltaStatistics), expected, `${kernels.name} chunked`, tolerance);
        [aBuffer, bBuffer, out].forEach((buffer) => kernels.free(buffer));
      }
    });
  }

  it('subtract into one of its operands gives the same bits and statistics as into a separate buffer', () => {
    // The fused bfloat16 kernel recomputes the statistics of a block holding a non-finite delta from its
    // operands after writing the block's output, so it must not read back what it wrote in place.
    for (const dtype of ['BF16', 'F32', 'F16'] as const) {
      const [a, b] = weights(dtype, 4099);
      for (const kernels of implementations) {
        const separate = createDeltaStatistics();
        const out = kernels.allocate(4099 * 4);
        kernels.subtract(bufferOf(kernels, dtype, a), dtype, bufferOf(kernels, dtype, b), dtype, out, dtype, 4099, separate);
        const size = dtype === 'F32' ? 4 : 2;
        const expected = Buffer.from(out.bytes.subarray(0, 4099 * size));
        for (const into of ['a', 'b'] as const) {
          const aBuffer = bufferOf(kernels, dtype, a);
          const bBuffer = bufferOf(kernels, dtype, b);
          const target = into === 'a' ? aBuffer : bBuffer;
          const inPlace = createDeltaStatistics();
          kernels.subtract(aBuffer, dtype, bBuffer, dtype, target, dtype, 4099, inPlace);
          assert.ok(Buffer.from(target.bytes.subarray(0, 4099 * size)).equals(expected), `${kernels.name} ${dtype} into ${into}: output`);
          assert.deepEqual(inPlace, separate, `${kernels.name} ${dtype} into ${into}: statistics`);
          assert.ok(separate.nonFinite > 0 && separate.unchanged > 0);
        }
      }
    }
  });

  it('histogram re-binning on known data', () => {
    const stats = createDeltaStatistics();
    // Deltas -1 (x3), 0 (x2), 0.5 (x1), 1 (x4): over [-1, 1] in 4 bins of width 0.5.
    for (const [value, n] of [[-1, 3], [0, 2], [0.5, 1], [1, 4]] as const) stats.histogram[f32ToBits(value) >>> 16] = n;
    stats.histogram[0x7fc0] = 5; // NaN deltas are not binned
    stats.min = -1;
    stats.max = 1;
    assert.deepEqual(finalizeHistogram(stats, 4), { min: -1, max: 1, counts: [3, 0, 2, 5] });
    // Bin edges: -1 -> bin 0, 0 -> bin 2 ((0 - -1) / 0.5), 0.5 -> bin 3, 1 -> the last bin (clamped).
    assert.deepEqual(finalizeHistogram(stats, 2).counts, [3, 7]);
    assert.equal(finalizeHistogram(stats).counts.length, 64);
    assert.equal(finalizeHistogram(stats).counts.reduce((x, y) => x + y), 10);
  });

  it('histogram of a real subtract run re-bins every finite delta', async () => {
    const kernels = await loadKernels('wasm-simd');
    const [a, b] = weights('BF16', 4099);
    const stats = createDeltaStatistics();
    const out = kernels.allocate(4099 * 2);
    kernels.subtract(bufferOf(kernels, 'BF16', a), 'BF16', bufferOf(kernels, 'BF16', b), 'BF16', out, 'BF16', 4099, stats);
    const histogram = finalizeHistogram(stats);
    assert.equal(histogram.counts.reduce((x, y) => x + y), stats.count - stats.nonFinite);
    assert.equal(histogram.min, stats.min);
    assert.equal(histogram.max, stats.max);
  });

  it('an empty statistics object merges as identity and finalizes to empty bins', () => {
    const empty = createDeltaStatistics();
    assert.deepEqual(finalizeHistogram(empty, 3).counts, [0, 0, 0]);
    const one = createDeltaStatistics();
    one.count = 1;
    one.min = one.max = one.maxAbs = 2;
    one.histogram[f32ToBits(2) >>> 16] = 1;
    const merged = mergeDeltaStatistics(empty, one);
    assert.equal(merged.min, 2);
    assert.equal(merged.count, 1);
    assert.deepEqual(finalizeHistogram(merged, 3).counts, [1, 0, 0]);
  });
});
