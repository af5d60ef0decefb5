/**
 * FP8 decoding and E4M3 encoding against references written here from the formats' definitions (Math.pow and a
 * search for the nearest value), not from the bit arithmetic under test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bitsToF32, f32ToBits } from '../../../src/engine/numerics/float-bits';
import {
  E4M3_TO_F32_BITS, E4M3_VALUES, E5M2_TO_F32_BITS, E5M2_VALUES, e4m3BitsToF32Bits, e4m3ToNumber, e5m2BitsToF32Bits,
  e5m2ToNumber, f32BitsToE4m3Bits, numberToE4m3Bits,
} from '../../../src/engine/numerics/float8';
import { mulberry32 } from '../../helpers/make-checkpoint';

/** E4M3 (fn): bias 7, no infinities, S.1111.111 NaN, subnormals m/8 * 2^-6. */
function e4m3Formula(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const exponent = (byte >> 3) & 0xf;
  const mantissa = byte & 0x7;
  if (exponent === 15 && mantissa === 7) return Number.NaN;
  if (exponent === 0) return sign * (mantissa / 8) * Math.pow(2, -6);
  return sign * (1 + mantissa / 8) * Math.pow(2, exponent - 7);
}

/** E5M2: bias 15, IEEE-like infinities and NaN, subnormals m/4 * 2^-14. */
function e5m2Formula(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const exponent = (byte >> 2) & 0x1f;
  const mantissa = byte & 0x3;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : Number.NaN;
  if (exponent === 0) return sign * (mantissa / 4) * Math.pow(2, -14);
  return sign * (1 + mantissa / 4) * Math.pow(2, exponent - 15);
}

/** The non-negative finite E4M3 values, by byte 0x00 to 0x7E (increasing). */
const POSITIVE_E4M3 = Array.from({ length: 0x7f }, (_, byte) => e4m3Formula(byte));

/**
 * The E4M3 byte of binary32 `bits` by definition: the nearest of the finite values (ties to the even byte, whose last
 * bit is the mantissa's), magnitudes beyond 448 saturating, NaN to 0x7F with the sign.
 */
function referenceEncode(bits: number): number {
  const sign = (bits >>> 24) & 0x80;
  const value = Math.abs(bitsToF32(bits));
  if (Number.isNaN(value)) return sign | 0x7f;
  if (value >= 448) return sign | 0x7e;
  let best = 0;
  for (let byte = 1; byte < POSITIVE_E4M3.length; byte++) {
    const distance = Math.abs(POSITIVE_E4M3[byte]! - value);
    const bestDistance = Math.abs(POSITIVE_E4M3[best]! - value);
    if (distance < bestDistance || (distance === bestDistance && byte % 2 === 0)) best = byte;
  }
  return sign | best;
}

/** Next binary32 up (towards +infinity) and down, for positive finite values. */
const nextUp = (value: number): number => bitsToF32(f32ToBits(value) + 1);
const nextDown = (value: number): number => bitsToF32(f32ToBits(value) - 1);

function sameNumber(actual: number, expected: number): boolean {
  return Object.is(actual, expected) || (Number.isNaN(actual) && Number.isNaN(expected));
}

describe('FP8 decoding', () => {
  it('all 256 E4M3 patterns decode exactly, by function and by table', () => {
    for (let byte = 0; byte < 256; byte++) {
      const expected = e4m3Formula(byte);
      assert.ok(sameNumber(e4m3ToNumber(byte), expected), `byte ${byte.toString(16)}: ${e4m3ToNumber(byte)} vs ${expected}`);
      assert.ok(sameNumber(E4M3_VALUES[byte]!, expected), `table, byte ${byte.toString(16)}`);
      assert.equal(E4M3_TO_F32_BITS[byte], e4m3BitsToF32Bits(byte));
      if (Number.isNaN(expected)) assert.equal(e4m3BitsToF32Bits(byte), ((byte & 0x80) << 24 | 0x7fc0_0000) >>> 0, 'quiet NaN with the sign');
    }
    assert.equal(e4m3ToNumber(0x7e), 448);
    assert.equal(e4m3ToNumber(0x01), 2 ** -9);
    assert.ok(Object.is(e4m3ToNumber(0x80), -0));
    assert.deepEqual([0x7f, 0xff].map((byte) => Number.isNaN(e4m3ToNumber(byte))), [true, true]);
  });

  it('all 256 E5M2 patterns decode exactly, infinities included', () => {
    for (let byte = 0; byte < 256; byte++) {
      const expected = e5m2Formula(byte);
      assert.ok(sameNumber(e5m2ToNumber(byte), expected), `byte ${byte.toString(16)}: ${e5m2ToNumber(byte)} vs ${expected}`);
      assert.ok(sameNumber(E5M2_VALUES[byte]!, expected), `table, byte ${byte.toString(16)}`);
      assert.equal(E5M2_TO_F32_BITS[byte], e5m2BitsToF32Bits(byte));
    }
    assert.equal(e5m2ToNumber(0x7c), Infinity);
    assert.equal(e5m2ToNumber(0xfc), -Infinity);
    assert.equal(e5m2ToNumber(0x7b), 57344);
    assert.equal(e5m2ToNumber(0x01), 2 ** -16);
  });
});

describe('binary32 to E4M3', () => {
  it('every E4M3 value round-trips, both signs', () => {
    for (let byte = 0; byte < 256; byte++) {
      const encoded = f32BitsToE4m3Bits(e4m3BitsToF32Bits(byte));
      assert.equal(encoded, byte, `byte ${byte.toString(16)} came back as ${encoded.toString(16)}`);
    }
  });

  it('midpoints between consecutive values round to the even one; their neighbours to the nearest', () => {
    for (let byte = 0; byte < 0x7e; byte++) {
      const low = POSITIVE_E4M3[byte]!;
      const high = POSITIVE_E4M3[byte + 1]!;
      const midpoint = (low + high) / 2;
      assert.equal(Math.fround(midpoint), midpoint, 'a midpoint is a binary32 value');
      const even = byte % 2 === 0 ? byte : byte + 1;
      for (const sign of [0, 0x80]) {
        const signed = (value: number): number => (sign ? -value : value);
        assert.equal(numberToE4m3Bits(signed(midpoint)), sign | even, `midpoint of ${low} and ${high}`);
        assert.equal(numberToE4m3Bits(signed(nextDown(midpoint))), sign | byte, `just below the midpoint of ${low} and ${high}`);
        assert.equal(numberToE4m3Bits(signed(nextUp(midpoint))), sign | (byte + 1), `just above the midpoint of ${low} and ${high}`);
      }
    }
  });

  it('magnitudes above 448 and infinities saturate to ±448; NaN stays NaN with its sign; zeros keep theirs', () => {
    for (const value of [448, nextUp(448), 463.99, 464, 480, 1e6, 3.4e38, Infinity]) {
      assert.equal(numberToE4m3Bits(value), 0x7e, `${value}`);
      assert.equal(numberToE4m3Bits(-value), 0xfe, `-${value}`);
    }
    assert.equal(numberToE4m3Bits(nextDown(448)), 0x7e, 'just below 448 is nearest to 448');
    assert.equal(f32BitsToE4m3Bits(0x7fc0_0000), 0x7f);
    assert.equal(f32BitsToE4m3Bits(0xffc0_0000), 0xff);
    assert.equal(f32BitsToE4m3Bits(0x7f80_0001), 0x7f, 'a signalling NaN');
    assert.equal(numberToE4m3Bits(Number.NaN), 0x7f);
    assert.equal(numberToE4m3Bits(0), 0x00);
    assert.equal(numberToE4m3Bits(-0), 0x80);
    assert.equal(numberToE4m3Bits(2 ** -10), 0x00, 'half the smallest subnormal ties to zero');
    assert.equal(numberToE4m3Bits(-(2 ** -10)), 0x80);
    assert.equal(numberToE4m3Bits(nextUp(2 ** -10)), 0x01);
    assert.equal(numberToE4m3Bits(1e-45), 0x00, 'a binary32 subnormal');
    assert.equal(numberToE4m3Bits(2 ** -6 - 2 ** -10), 0x08, 'the last subnormal midpoint rounds up to the smallest normal');
  });

  it('agrees with the nearest-value search on random binary32 patterns and on values in range', () => {
    const random = mulberry32(8);
    for (let i = 0; i < 100_000; i++) {
      const bits = (random() * 2 ** 32) >>> 0;
      assert.equal(f32BitsToE4m3Bits(bits), referenceEncode(bits), `bits ${bits.toString(16)}`);
    }
    for (let i = 0; i < 200_000; i++) {
      const value = Math.fround((random() < 0.5 ? -1 : 1) * 2 ** (random() * 22 - 12));
      const bits = f32ToBits(value);
      assert.equal(f32BitsToE4m3Bits(bits), referenceEncode(bits), `value ${value}`);
    }
  });
});
