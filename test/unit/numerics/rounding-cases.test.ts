/** Hand-checked rounding of binary32 to bfloat16 and binary16; expected bits are worked out beside each case. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bf16BitsToF32Bits, f32BitsToBf16Bits, numberToBf16Bits } from '../../../src/engine/numerics/bfloat16';
import { f16BitsToF32Bits, f16ToNumber, f32BitsToF16Bits, numberToF16Bits } from '../../../src/engine/numerics/float16';

describe('binary32 -> bfloat16 (keep the top 16 bits, round on the low 16)', () => {
  const cases: Array<[number, number, string]> = [
    [0x3f80_8000, 0x3f80, 'tie, kept part 0x3f80 even: stays (1 + 2^-8 -> 1)'],
    [0x3f81_8000, 0x3f82, 'tie, kept part 0x3f81 odd: up to even 0x3f82'],
    [0x3f80_8001, 0x3f81, 'just above the tie: up'],
    [0x3f80_7fff, 0x3f80, 'just below the tie: down'],
    [0xbf81_8000, 0xbf82, 'negative tie rounds the magnitude to even'],
    [0x0000_8000, 0x0000, 'subnormal tie, even kept part 0: down to +0'],
    [0x0001_8000, 0x0002, 'subnormal tie, odd kept part: up to 0x0002'],
    [0x007f_ffff, 0x0080, 'largest binary32 subnormal rounds up into the smallest bfloat16 normal'],
    [0x7f7f_ffff, 0x7f80, 'largest binary32 (above bfloat16 max 0x7f7f + half) overflows to +Inf'],
    [0x7f7f_7fff, 0x7f7f, 'just below the overflow tie: stays at bfloat16 max'],
    [0xff7f_8000, 0xff80, 'tie at the top with odd 0xff7f: to -Inf'],
    [0x7f80_0000, 0x7f80, '+Inf'],
    [0xff80_0000, 0xff80, '-Inf'],
    [0x7fc0_0000, 0x7fc0, 'quiet NaN'],
    [0x7f80_0001, 0x7fc0, 'signalling NaN with payload only in the low bits: quiet NaN, never Inf'],
    [0x7fff_ffff, 0x7fff, 'NaN with all payload bits: must not carry into the sign (0x8000 would be -0)'],
    [0xff80_ffff, 0xffc0, 'negative signalling NaN: quiet, sign kept'],
    [0x8000_0000, 0x8000, '-0 stays -0'],
  ];
  for (const [input, expected, why] of cases) {
    it(`${input.toString(16)} -> ${expected.toString(16)}: ${why}`, () => {
      assert.equal(f32BitsToBf16Bits(input), expected);
    });
  }
  it('widening is a shift and keeps NaN payloads', () => {
    assert.equal(bf16BitsToF32Bits(0x7f81), 0x7f81_0000);
    assert.equal(bf16BitsToF32Bits(0xbf80), 0xbf80_0000);
  });
  it('numbers round to binary32 first, like PyTorch (double rounding is intended)', () => {
    // 1 + 2^-8 + 2^-30 rounds to binary32 1 + 2^-8 (0x3f808000), a tie that goes to even 0x3f80; rounding the
    // binary64 directly would give 0x3f81.
    assert.equal(numberToBf16Bits(1 + 2 ** -8 + 2 ** -30), 0x3f80);
    assert.equal(numberToBf16Bits(Number.NaN), 0x7fc0);
  });
});

describe('binary32 -> binary16', () => {
  const cases: Array<[number, number, string]> = [
    [0x3f80_1000, 0x3c00, '1 + 2^-11: tie, even mantissa 0: stays 1.0 (0x3c00)'],
    [0x3f80_3000, 0x3c02, '1 + 3 * 2^-11: tie, odd mantissa 1: up to 0x3c02'],
    [0x3f80_1001, 0x3c01, 'just above the tie: up'],
    [0x477f_e000, 0x7bff, '65504, the largest binary16'],
    [0x477f_efff, 0x7bff, 'just below 65520: down to 65504'],
    [0x477f_f000, 0x7c00, '65520, the tie above 65504 (odd 0x3ff): overflows to +Inf'],
    [0x4780_0000, 0x7c00, '65536: +Inf'],
    [0x3880_0000, 0x0400, '2^-14, the smallest normal'],
    [0x3380_0000, 0x0001, '2^-24, the smallest subnormal'],
    [0x3300_0000, 0x0000, '2^-25: tie between 0 and 2^-24, to even: +0'],
    [0x3300_0001, 0x0001, 'just above 2^-25: up to the smallest subnormal'],
    [0x33c0_0000, 0x0002, '1.5 * 2^-24: tie between 1 and 2 units, to even: 2 units'],
    [0x387f_c000, 0x03ff, '1023 * 2^-24 = 2^-15 * 1.998046875: the largest subnormal, exact'],
    [0x387f_e000, 0x0400, '1023.5 * 2^-24: tie between the largest subnormal (odd 0x3ff) and 0x400: to even, the smallest normal'],
    [0xb380_0000, 0x8001, '-2^-24'],
    [0x0000_0001, 0x0000, 'binary32 subnormal: +0'],
    [0x8000_0001, 0x8000, 'negative binary32 subnormal: -0'],
    [0x7f80_0000, 0x7c00, '+Inf'],
    [0xff80_0000, 0xfc00, '-Inf'],
    [0x7f80_0001, 0x7e00, 'signalling NaN: quiet NaN, never Inf'],
    [0xffc0_0000, 0xfe00, 'negative NaN keeps its sign'],
  ];
  for (const [input, expected, why] of cases) {
    it(`${input.toString(16)} -> ${expected.toString(16)}: ${why}`, () => {
      assert.equal(f32BitsToF16Bits(input), expected);
    });
  }
  it('widening is exact for subnormals, infinities and NaN payloads', () => {
    assert.equal(f16ToNumber(0x0001), 2 ** -24);
    assert.equal(f16ToNumber(0x03ff), 1023 * 2 ** -24);
    assert.equal(f16ToNumber(0x7bff), 65504);
    assert.equal(f16ToNumber(0xfc00), -Infinity);
    assert.equal(f16BitsToF32Bits(0x7c01), 0x7f80_2000);
    assert.equal(f16BitsToF32Bits(0x8000), 0x8000_0000);
    assert.equal(numberToF16Bits(Number.NaN), 0x7e00);
  });
});
