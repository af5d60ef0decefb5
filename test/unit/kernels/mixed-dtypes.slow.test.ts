/**
 * Every combination of BF16, F16, F32 and F64 operands and outputs, with element counts that are not
 * multiples of the SIMD width and buffers viewed at odd offsets: WebAssembly == plain JS == scalar reference.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import { createCompareAccumulator, loadKernels, type ElementwiseKernels, type KernelBuffer } from '../../../src/engine/kernels/kernels';
import { bf16BitsToF32Bits } from '../../../src/engine/numerics/bfloat16';
import { f16BitsToF32Bits } from '../../../src/engine/numerics/float16';
import { bitsToF32, f32ToBits } from '../../../src/engine/numerics/float-bits';
import { fmaF32 } from '../../../src/engine/numerics/fused-multiply-add';
import {
  bitsOf, DTYPE_BYTES, differences, FLOAT_DTYPES, readBits, referenceAddScaled, referenceConvert, referenceSubtract,
  seededRandom, valueOf, writeBits, type ElementBits,
} from './kernel-test-support';

/** Random values of `dtype` with specials mixed in; `count` crosses a block and a SIMD tail. */
function randomBits(dtype: FloatDtype, count: number, seed: number): ElementBits[] {
  const random = seededRandom(seed);
  const specials = [0, -0, Infinity, -Infinity, Number.NaN, 1e-40, 65504, 70000, 3.4e38];
  return Array.from({ length: count }, () => {
    const value = random() < 0.05
      ? specials[Math.floor(random() * specials.length)]!
      : (random() - 0.5) * 2 ** Math.floor(random() * 40 - 20);
    return bitsOf(dtype, dtype === 'F64' ? value : Math.fround(value));
  });
}

/** A buffer whose element 0 sits `offset` bytes into an allocation (odd offsets force unaligned views). */
function placed(kernels: ElementwiseKernels, dtype: FloatDtype, count: number, offset: number): KernelBuffer {
  return kernels.allocate(offset + count * DTYPE_BYTES[dtype]).view(offset, count * DTYPE_BYTES[dtype]);
}

const COUNT = 8192 + 8 * 3 + 5;

describe('mixed dtypes, odd counts and offsets', () => {
  let implementations: ElementwiseKernels[] = [];
  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });

  it('subtract: all 64 combinations', () => {
    for (const aDtype of FLOAT_DTYPES) for (const bDtype of FLOAT_DTYPES) for (const outDtype of FLOAT_DTYPES) {
      const a = randomBits(aDtype, COUNT, 1);
      const b = randomBits(bDtype, COUNT, 2);
      const expected = a.map((x, i) => referenceSubtract(aDtype, x, bDtype, b[i]!, outDtype));
      for (const kernels of implementations) {
        for (const offset of [0, 2]) {
          const aBuffer = placed(kernels, aDtype, COUNT, offset);
          const bBuffer = placed(kernels, bDtype, COUNT, 0);
          const out = placed(kernels, outDtype, COUNT, offset * 3);
          writeBits(aBuffer, aDtype, a);
          writeBits(bBuffer, bDtype, b);
          kernels.subtract(aBuffer, aDtype, bBuffer, bDtype, out, outDtype, COUNT);
          const label = `${kernels.name} ${bDtype} - ${aDtype} -> ${outDtype} at offset ${offset}`;
          assert.deepEqual(differences(outDtype, readBits(out, outDtype, COUNT), expected, String), [], label);
        }
      }
    }
  });

  it('addScaled: all 64 combinations, alpha 1 and 0.7', () => {
    for (const cDtype of FLOAT_DTYPES) for (const rDtype of FLOAT_DTYPES) for (const outDtype of FLOAT_DTYPES) {
      const c = randomBits(cDtype, COUNT, 3);
      const r = randomBits(rDtype, COUNT, 4);
      for (const alpha of [1, 0.7]) {
        const expected = c.map((x, i) => referenceAddScaled(cDtype, x, rDtype, r[i]!, alpha, outDtype));
        for (const kernels of implementations) {
          const cBuffer = placed(kernels, cDtype, COUNT, 0);
          const rBuffer = placed(kernels, rDtype, COUNT, 6);
          const out = placed(kernels, outDtype, COUNT, 0);
          writeBits(cBuffer, cDtype, c);
          writeBits(rBuffer, rDtype, r);
          kernels.addScaled(cBuffer, cDtype, rBuffer, rDtype, alpha, out, outDtype, COUNT);
          const label = `${kernels.name} ${cDtype} + ${alpha} * ${rDtype} -> ${outDtype}`;
          assert.deepEqual(differences(outDtype, readBits(out, outDtype, COUNT), expected, String), [], label);
        }
      }
    }
  });

  it('addScaled F32 rounds once on built double-rounding cases', () => {
    // r * alpha = ulp(c)/2 * (1 - 2^-30): rounding the sum to binary64 first would land on the midpoint.
    const random = seededRandom(9);
    const count = 1001;
    const alpha = Math.fround(1 + 2 ** -15);
    const c = Array.from({ length: count }, () => f32ToBits(Math.fround((1 + random()) * 2 ** Math.floor(random() * 20 - 10))));
    const r = c.map((bits) => {
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(bitsToF32(bits)))) - 23);
      return f32ToBits(Math.fround((1 - 2 ** -15) * (ulp / 2) * (random() < 0.5 ? -1 : 1)));
    });
    const expected = c.map((x, i) => f32ToBits(fmaF32(bitsToF32(r[i]!), alpha, bitsToF32(x))));
    const naive = c.map((x, i) => f32ToBits(Math.fround(bitsToF32(r[i]!) * alpha + bitsToF32(x))));
    assert.ok(naive.some((bits, i) => bits !== expected[i]), 'cases must separate one rounding from two');
    for (const kernels of implementations) {
      const cBuffer = placed(kernels, 'F32', count, 0);
      const rBuffer = placed(kernels, 'F32', count, 0);
      const out = placed(kernels, 'F32', count, 0);
      writeBits(cBuffer, 'F32', c);
      writeBits(rBuffer, 'F32', r);
      kernels.addScaled(cBuffer, 'F32', rBuffer, 'F32', alpha, out, 'F32', count);
      assert.deepEqual(differences('F32', readBits(out, 'F32', count), expected, String), [], kernels.name);
    }
  });

  it('convert: all 16 pairs', () => {
    for (const srcDtype of FLOAT_DTYPES) for (const outDtype of FLOAT_DTYPES) {
      const src = randomBits(srcDtype, COUNT, 5);
      const expected = src.map((x) => referenceConvert(srcDtype, x, outDtype));
      for (const kernels of implementations) {
        const srcBuffer = placed(kernels, srcDtype, COUNT, 2);
        const out = placed(kernels, outDtype, COUNT, 0);
        writeBits(srcBuffer, srcDtype, src);
        kernels.convert(srcBuffer, srcDtype, out, outDtype, COUNT);
        assert.deepEqual(differences(outDtype, readBits(out, outDtype, COUNT), expected, String), [], `${kernels.name} ${srcDtype} -> ${outDtype}`);
      }
    }
  });

  it('compare: mostly identical bf16 (whole identical groups, as a passing verify has) with scattered differences', () => {
    const x = randomBits('BF16', COUNT, 8);
    // Identical except in a few groups: a nudged value, a NaN on one side, NaN == NaN bits, an infinity against a finite.
    const y = x.map((bits, i) => (i === 100 ? Number(bits) ^ 1 : i === 2001 ? 0x7fc0 : i === 4003 ? 0x7f80 : bits));
    x[3000] = 0x7fc1;
    y[3000] = 0x7fc1;
    const expected = createCompareAccumulator();
    expected.count = COUNT;
    for (let i = 0; i < COUNT; i++) {
      const [u, v] = [valueOf('BF16', x[i]!), valueOf('BF16', y[i]!)];
      if (x[i] === y[i]) expected.identical++;
      else if (u === v) expected.signedZeroOnly++;
      if (Number.isFinite(u) && Number.isFinite(v)) expected.maxAbsError = Math.max(expected.maxAbsError, Math.abs(u - v));
      else if (x[i] !== y[i] && !(Number.isNaN(u) && Number.isNaN(v))) expected.nonFiniteMismatch++;
    }
    assert.ok(expected.identical > COUNT - 8 && expected.maxAbsError > 0);
    for (const kernels of implementations) {
      const [xBuffer, yBuffer] = [placed(kernels, 'BF16', COUNT, 0), placed(kernels, 'BF16', COUNT, 2)];
      writeBits(xBuffer, 'BF16', x);
      writeBits(yBuffer, 'BF16', y);
      const acc = createCompareAccumulator();
      kernels.compare(xBuffer, 'BF16', yBuffer, 'BF16', COUNT, acc);
      assert.deepEqual(acc, expected, kernels.name);
    }
  });

  it('compare: identical counts, max abs error and non-finite mismatches, all 16 pairs', () => {
    for (const xDtype of FLOAT_DTYPES) for (const yDtype of FLOAT_DTYPES) {
      const x = randomBits(xDtype, COUNT, 6);
      // y: a copy of x converted to yDtype, with every 7th element nudged and every 50th made NaN.
      const y = x.map((bits, i) => {
        const value = i % 50 === 0 ? Number.NaN : (i % 7 === 0 ? 1.5 : 1) * valueOf(xDtype, bits);
        return bitsOf(yDtype, value);
      });
      const results = implementations.map((kernels) => {
        const xBuffer = placed(kernels, xDtype, COUNT, 0);
        const yBuffer = placed(kernels, yDtype, COUNT, 2);
        writeBits(xBuffer, xDtype, x);
        writeBits(yBuffer, yDtype, y);
        const acc = createCompareAccumulator();
        kernels.compare(xBuffer, xDtype, yBuffer, yDtype, COUNT, acc);
        return acc;
      });
      const expected = createCompareAccumulator();
      expected.count = COUNT;
      const wide = xDtype === 'F64' || yDtype === 'F64';
      for (let i = 0; i < COUNT; i++) {
        const u = valueOf(xDtype, x[i]!);
        const v = valueOf(yDtype, y[i]!);
        const same = wide ? bitsOf('F64', u) === bitsOf('F64', v) : commonBits(xDtype, x[i]!) === commonBits(yDtype, y[i]!);
        if (same) expected.identical++;
        else if (u === v) expected.signedZeroOnly++;
        if (Number.isFinite(u) && Number.isFinite(v)) expected.maxAbsError = Math.max(expected.maxAbsError, Math.abs(u - v));
        else if (!same && !(Number.isNaN(u) && Number.isNaN(v))) expected.nonFiniteMismatch++;
      }
      for (const [index, acc] of results.entries()) {
        const name = implementations[index]!.name;
        assert.deepEqual(acc, expected, `${name} ${xDtype} vs ${yDtype}`);
      }
    }
  });
});


/** Bits widened exactly to binary32 (where the WebAssembly and JS kernels compare 16- and 32-bit values). */
function commonBits(dtype: FloatDtype, bits: ElementBits): number {
  if (dtype === 'BF16') return bf16BitsToF32Bits(Number(bits));
  if (dtype === 'F16') return f16BitsToF32Bits(Number(bits));
  return Number(bits);
}
