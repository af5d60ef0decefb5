/**
 * The scalar conversions against exact BigInt rounding: every binary16 value and every midpoint between
 * neighbours (and one binary32 step either side), every bfloat16 round trip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bf16ToNumber, f32BitsToBf16Bits } from '../../../src/engine/numerics/bfloat16';
import { f16ToNumber, f32BitsToF16Bits } from '../../../src/engine/numerics/float16';
import { BINARY16, roundScaledInteger, toScaledInteger } from '../../../src/engine/numerics/exact-rounding';
import { bitsToF32, f32ToBits } from '../../../src/engine/numerics/float-bits';

/** Exact rounding of a binary32 value to binary16, through BigInt. */
function exactF16(value: number): number {
  if (value === 0) return Object.is(value, -0) ? 0x8000 : 0;
  const rounded = roundScaledInteger(toScaledInteger(value), BINARY16);
  // Find the bits whose value is `rounded`: decode via the pattern's own value.
  const sign = rounded < 0 || Object.is(rounded, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(rounded);
  if (magnitude === Infinity) return sign | 0x7c00;
  if (magnitude === 0) return sign;
  const exponent = Math.max(Math.floor(Math.log2(magnitude)), -14);
  const mantissa = magnitude / 2 ** (exponent - 10);
  return magnitude < 2 ** -14 ? sign | mantissa : sign | ((exponent + 15) << 10) | (mantissa - 1024);
}

describe('binary16 conversions against exact rounding', () => {
  it('every finite binary16 value, every midpoint and its neighbours round like BigInt rounding', () => {
    const mismatches: string[] = [];
    for (let bits = 0; bits < 0x7c00; bits++) {
      for (const sign of [0, 0x8000]) {
        const value = f16ToNumber(sign | bits);
        const next = bits === 0x7bff ? 65520 : f16ToNumber(bits + 1); // 65520 is the overflow boundary.
        const midpoint = (Math.abs(value) + next) / 2 * (sign ? -1 : 1);
        const midpointBits = f32ToBits(midpoint);
        for (const probe of [f32ToBits(value), midpointBits - 1, midpointBits, midpointBits + 1]) {
          const x = bitsToF32(probe);
          const expected = exactF16(x);
          if (f32BitsToF16Bits(probe) !== expected) mismatches.push(`${probe.toString(16)} -> ${f32BitsToF16Bits(probe).toString(16)}, exact ${expected.toString(16)}`);
        }
      }
    }
    assert.deepEqual(mismatches.slice(0, 10), []);
  });

  it('every binary16 survives the round trip through binary32', () => {
    for (let bits = 0; bits < 65_536; bits++) {
      const back = f32BitsToF16Bits(f32ToBits(f16ToNumber(bits)));
      if (Number.isNaN(f16ToNumber(bits))) assert.ok((back & 0x7fff) >= 0x7e00, `NaN ${bits.toString(16)}`);
      else assert.equal(back, bits);
    }
  });

  it('every bfloat16 survives the round trip through binary32; NaN comes back quiet', () => {
    for (let bits = 0; bits < 65_536; bits++) {
      const back = f32BitsToBf16Bits(f32ToBits(bf16ToNumber(bits)));
      if (Number.isNaN(bf16ToNumber(bits))) assert.equal(back, bits | 0x40);
      else assert.equal(back, bits);
    }
  });
});
