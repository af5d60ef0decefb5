import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import { loadKernels, type ElementwiseKernels } from '../../../src/engine/kernels/kernels';
import { firstNewNonFinite } from '../../../src/engine/kernels/non-finite';
import { DTYPE_BYTES, FLOAT_DTYPES, writeBits, type ElementBits } from './kernel-test-support';

/** Per dtype: +Inf, -Inf, a quiet NaN, a NaN with only the lowest mantissa bit, and the largest finite values. */
const SPECIALS: Record<FloatDtype, { nonFinite: ElementBits[]; largestFinite: ElementBits[] }> = {
  BF16: { nonFinite: [0x7f80, 0xff80, 0x7fc0, 0x7f81], largestFinite: [0x7f7f, 0xff7f] },
  F16: { nonFinite: [0x7c00, 0xfc00, 0x7e00, 0x7c01], largestFinite: [0x7bff, 0xfbff] },
  F32: { nonFinite: [0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0x7f80_0001], largestFinite: [0x7f7f_ffff, 0xff7f_ffff] },
  F64: {
    nonFinite: [0x7ff0_0000_0000_0000n, 0xfff0_0000_0000_0000n, 0x7ff8_0000_0000_0000n, 0x7ff0_0000_0000_0001n],
    largestFinite: [0x7fef_ffff_ffff_ffffn, 0xffef_ffff_ffff_ffffn],
  },
};

describe('anyNonFinite (apply\'s overflow guard)', () => {
  let implementations: ElementwiseKernels[] = [];
  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });
  after(() => implementations.forEach((kernels) => kernels.dispose()));

  it('finds an infinity or NaN at every position, in the SIMD body and in the tail, and nothing in finite data', () => {
    for (const kernels of implementations) {
      for (const dtype of FLOAT_DTYPES) {
        for (const count of [1, 7, 8, 9, 16, 37]) {
          const buffer = kernels.allocate(count * DTYPE_BYTES[dtype]);
          const finite = Array.from({ length: count }, (_, i) => SPECIALS[dtype].largestFinite[i % 2]!);
          writeBits(buffer, dtype, finite);
          assert.equal(kernels.anyNonFinite(buffer, dtype, count), false, `${kernels.name} ${dtype} ${count} finite`);
          for (let position = 0; position < count; position++) {
            for (const special of SPECIALS[dtype].nonFinite) {
              writeBits(buffer, dtype, finite.map((bits, i) => (i === position ? special : bits)));
              assert.equal(kernels.anyNonFinite(buffer, dtype, count), true, `${kernels.name} ${dtype} ${count} at ${position}`);
            }
          }
          // Elements past `count` are not looked at.
          const longer = kernels.allocate((count + 8) * DTYPE_BYTES[dtype]);
          writeBits(longer, dtype, [...finite, ...Array.from({ length: 8 }, () => SPECIALS[dtype].nonFinite[0]!)]);
          assert.equal(kernels.anyNonFinite(longer, dtype, count), false, `${kernels.name} ${dtype} ${count} past the end`);
          kernels.free(longer);
          kernels.free(buffer);
        }
      }
    }
  });

  it('the exact search names the first element that overflowed from finite inputs, not one that was already Inf', () => {
    const bf16 = (bits: number[]): Uint8Array => new Uint8Array(new Uint16Array(bits).buffer);
    // c = [Inf, 1, 3e38], r = [1, 1, 3e38]: element 0 was already infinite, element 2 overflows.
    const c = bf16([0x7f80, 0x3f80, 0x7f62]);
    const r = bf16([0x3f80, 0x3f80, 0x7f62]);
    const out = bf16([0x7f80, 0x4000, 0x7f80]);
    const found = firstNewNonFinite([{ bytes: c, dtype: 'BF16' }, { bytes: r, dtype: 'BF16' }], { bytes: out, dtype: 'BF16' }, 3);
    assert.equal(found?.index, 2);
    assert.equal(found?.result, Infinity);
    assert.ok(found!.inputs.every((value) => value > 2.9e38 && value < 3.1e38), String(found?.inputs));
    assert.equal(firstNewNonFinite([{ bytes: c, dtype: 'BF16' }], { bytes: out, dtype: 'BF16' }, 2), undefined);
  });
});
