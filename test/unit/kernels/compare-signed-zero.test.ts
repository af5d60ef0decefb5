/**
 * compare counts elements that differ only in the sign of zero apart from identical ones and from real
 * mismatches, with the same counts on the WebAssembly and the plain-JS kernels, for every pair of dtypes.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import { createCompareAccumulator, loadKernels, type CompareAccumulator, type ElementwiseKernels } from '../../../src/engine/kernels/kernels';
import { bitsOf, DTYPE_BYTES, FLOAT_DTYPES, valueOf, writeBits, type ElementBits } from './kernel-test-support';

const POSITIVE_ZERO: Record<FloatDtype, ElementBits> = { BF16: 0x0000, F16: 0x0000, F32: 0x0000_0000, F64: 0n };
const NEGATIVE_ZERO: Record<FloatDtype, ElementBits> = { BF16: 0x8000, F16: 0x8000, F32: 0x8000_0000, F64: 0x8000_0000_0000_0000n };

/** Crosses the WebAssembly block (8192) and ends in a SIMD tail of 5. */
const COUNT = 2 * 8192 + 8 * 3 + 5;
/** The first elements are identical whole groups, the path a passing bfloat16 verify takes. */
const IDENTICAL_PREFIX = 4096;

type Kind = 'identical' | 'signed-zero' | 'mismatch' | 'non-finite';

/** Element i of x and y, and what compare must count it as. */
function element(i: number, xDtype: FloatDtype, yDtype: FloatDtype): { x: ElementBits; y: ElementBits; kind: Kind } {
  const value = ((i % 97) + 1) * 2 ** -7;
  if (i < IDENTICAL_PREFIX) return { x: bitsOf(xDtype, value), y: bitsOf(yDtype, value), kind: 'identical' };
  switch (i % 6) {
    case 0: return { x: NEGATIVE_ZERO[xDtype], y: POSITIVE_ZERO[yDtype], kind: 'signed-zero' };
    case 1: return { x: POSITIVE_ZERO[xDtype], y: NEGATIVE_ZERO[yDtype], kind: 'signed-zero' };
    case 2: return { x: NEGATIVE_ZERO[xDtype], y: NEGATIVE_ZERO[yDtype], kind: 'identical' };
    case 3: return { x: bitsOf(xDtype, value), y: bitsOf(yDtype, 1.5 * value), kind: 'mismatch' };
    case 4: return { x: bitsOf(xDtype, value), y: bitsOf(yDtype, value), kind: 'identical' };
    default: return i % 12 === 5
      ? { x: NEGATIVE_ZERO[xDtype], y: bitsOf(yDtype, Number.NaN), kind: 'non-finite' }
      : { x: NEGATIVE_ZERO[xDtype], y: bitsOf(yDtype, 2 ** -10), kind: 'mismatch' };
  }
}

describe('compare: +0 against -0', () => {
  let implementations: ElementwiseKernels[] = [];
  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });

  it('counts elements that differ only in the sign of zero apart, exactly, all 16 pairs on both backends', () => {
    for (const xDtype of FLOAT_DTYPES) for (const yDtype of FLOAT_DTYPES) {
      const elements = Array.from({ length: COUNT }, (_, i) => element(i, xDtype, yDtype));
      const tally = (kind: Kind): number => elements.filter((e) => e.kind === kind).length;
      let maxAbsError = 0;
      for (const { x, y } of elements) {
        const [u, v] = [valueOf(xDtype, x), valueOf(yDtype, y)];
        if (Number.isFinite(u) && Number.isFinite(v)) maxAbsError = Math.max(maxAbsError, Math.abs(u - v));
      }
      const expected: CompareAccumulator = {
        count: COUNT,
        identical: tally('identical'),
        signedZeroOnly: tally('signed-zero'),
        maxAbsError,
        nonFiniteMismatch: tally('non-finite'),
      };
      assert.ok(expected.signedZeroOnly > 4000 && tally('mismatch') > 2000 && expected.nonFiniteMismatch > 1000);
      for (const kernels of implementations) {
        const [xBuffer, yBuffer] = [kernels.allocate(COUNT * DTYPE_BYTES[xDtype]), kernels.allocate(COUNT * DTYPE_BYTES[yDtype])];
        writeBits(xBuffer, xDtype, elements.map((e) => e.x));
        writeBits(yBuffer, yDtype, elements.map((e) => e.y));
        const acc = createCompareAccumulator();
        kernels.compare(xBuffer, xDtype, yBuffer, yDtype, COUNT, acc);
        assert.deepEqual(acc, expected, `${kernels.name} ${xDtype} vs ${yDtype}`);
      }
    }
  });

  it('a tail of only signed zeros: the zero padding of the SIMD tail is not counted as one', () => {
    for (const dtype of FLOAT_DTYPES) {
      const count = 3;
      for (const kernels of implementations) {
        const [x, y] = [kernels.allocate(count * DTYPE_BYTES[dtype]), kernels.allocate(count * DTYPE_BYTES[dtype])];
        writeBits(x, dtype, [NEGATIVE_ZERO[dtype], NEGATIVE_ZERO[dtype], POSITIVE_ZERO[dtype]]);
        writeBits(y, dtype, [POSITIVE_ZERO[dtype], NEGATIVE_ZERO[dtype], NEGATIVE_ZERO[dtype]]);
        const acc = createCompareAccumulator();
        kernels.compare(x, dtype, y, dtype, count, acc);
        assert.deepEqual(acc, { count, identical: 1, signedZeroOnly: 2, maxAbsError: 0, nonFiniteMismatch: 0 }, `${kernels.name} ${dtype}`);
      }
    }
  });
});
