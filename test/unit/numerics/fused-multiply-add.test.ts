/** The emulated fused multiply-adds against exact BigInt arithmetic, including cases built to catch double rounding. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addScaled, BINARY32, BINARY64, multiplyScaled, roundScaledInteger, toScaledInteger, type BinaryFormat,
} from '../../../src/engine/numerics/exact-rounding';
import { bitsToF32, f32ToBits } from '../../../src/engine/numerics/float-bits';
import { fmaF32, fmaF64 } from '../../../src/engine/numerics/fused-multiply-add';
import { seededRandom } from '../kernels/kernel-test-support';

function exactFma(a: number, b: number, c: number, format: BinaryFormat): number {
  const exact = addScaled(multiplyScaled(toScaledInteger(a), toScaledInteger(b)), toScaledInteger(c));
  if (exact.mantissa === 0n) return (a * b === 0 ? a * b + c : 0); // exact zero: +0 unless both parts are -0
  return roundScaledInteger(exact, format);
}

function randomF32(random: () => number): number {
  // Random sign, mantissa, and an exponent spread wide enough to mix cancellation, absorption and subnormals.
  const exponent = Math.floor(random() * 60) - 30 + (random() < 0.05 ? -110 : 0);
  return Math.fround((random() < 0.5 ? -1 : 1) * (1 + random()) * 2 ** exponent);
}

describe('exact rounding', () => {
  it('rounds exact sums of binary64 like the FPU does', () => {
    const random = seededRandom(64);
    for (let i = 0; i < 20_000; i++) {
      const a = (random() - 0.5) * 2 ** Math.floor(random() * 200 - 100);
      const b = (random() - 0.5) * 2 ** Math.floor(random() * 200 - 100);
      const exact = addScaled(toScaledInteger(a), toScaledInteger(b));
      if (exact.mantissa !== 0n) assert.equal(roundScaledInteger(exact, BINARY64), a + b);
    }
  });
  it('rounds binary64 to binary32 like Math.fround, subnormals and overflow included', () => {
    const random = seededRandom(32);
    for (let i = 0; i < 20_000; i++) {
      const value = (random() - 0.5) * 2 ** Math.floor(random() * 320 - 170);
      if (value !== 0) assert.equal(roundScaledInteger(toScaledInteger(value), BINARY32), Math.fround(value));
    }
  });
});

describe('fmaF32', () => {
  it('catches the double-rounding case: 1 + 2^-23 plus (1 - 2^-15) * (1 + 2^-15) * 2^-24', () => {
    // Exact: 1 + 2^-23 + 2^-24 - 2^-54, just below the midpoint between 0x3f800001 and 0x3f800002.
    // Rounding to binary64 first lands on the midpoint (1 + 2^-23 + 2^-24), which then ties to even
    // 0x3f800002; the single rounding must give 0x3f800001.
    const c = bitsToF32(0x3f80_0001);
    const r = Math.fround((1 - 2 ** -15) * 2 ** -24);
    const alpha = Math.fround(1 + 2 ** -15);
    assert.equal(f32ToBits(Math.fround(r * alpha + c)), 0x3f80_0002, 'the naive route rounds twice');
    assert.equal(f32ToBits(fmaF32(r, alpha, c)), 0x3f80_0001);
  });
  it('equals exact rounding on 200 000 random triples and on built near-midpoint cases', () => {
    const random = seededRandom(0xf3a);
    let naiveDiffers = 0;
    for (let i = 0; i < 200_000; i++) {
      let a = randomF32(random);
      let b = randomF32(random);
      let c = randomF32(random);
      if (i % 3 === 0) {
        // Put c where the product's low bits straddle c's rounding point.
        c = Math.fround(Math.abs(a * b) * 2 ** (24 + Math.floor(random() * 8)) * (random() < 0.5 ? -1 : 1));
      } else if (i % 3 === 1) {
        // (1 - 2^-j)(1 + 2^-j) * ulp(c) / 2 = ulp(c) / 2 * (1 - 2^-2j): a hair below (or above, with the signs
        // mixed) the midpoint after c, so that a binary64 sum lands exactly on the midpoint.
        const j = 15 + Math.floor(random() * 6);
        const ulp = 2 ** (Math.floor(Math.log2(Math.abs(c))) - 23);
        a = Math.fround((1 - 2 ** -j) * (ulp / 2) * (random() < 0.5 ? -1 : 1));
        b = Math.fround((1 + 2 ** -j) * (random() < 0.5 ? -1 : 1));
      }
      const expected = exactFma(a, b, c, BINARY32);
      assert.equal(fmaF32(a, b, c), expected, `fma(${a}, ${b}, ${c})`);
      if (Math.fround(a * b + c) !== expected) naiveDiffers++;
    }
    assert.ok(naiveDiffers > 0, 'the sample must contain cases where rounding twice is wrong');
  });
  it('keeps special values: infinities, NaN, signed zeros', () => {
    assert.equal(fmaF32(Infinity, 0, 1), Number.NaN);
    assert.ok(Number.isNaN(fmaF32(Infinity, 0, 1)));
    assert.equal(fmaF32(2, 3, -Infinity), -Infinity);
    assert.ok(Object.is(fmaF32(-0, 1, -0), -0));
    assert.ok(Object.is(fmaF32(1, 1, -1), 0));
    assert.equal(fmaF32(bitsToF32(0x7f7f_ffff), 2, 0), Infinity);
  });
});

describe('fmaF64', () => {
  it('equals exact rounding on random triples across the whole exponent range', () => {
    const random = seededRandom(0xf64);
    for (let i = 0; i < 50_000; i++) {
      const wide = i % 10 === 0;
      const scale = (): number => 2 ** Math.floor(wide ? random() * 2000 - 1000 : random() * 80 - 40);
      const a = (random() - 0.5) * scale();
      const b = (random() - 0.5) * scale();
      const c = i % 3 === 0 ? -a * b * (1 + (random() - 0.5) * 2 ** -40) : (random() - 0.5) * scale();
      if (!Number.isFinite(a * b) || !Number.isFinite(c)) continue;
      assert.equal(fmaF64(a, b, c), exactFma(a, b, c, BINARY64), `fma(${a}, ${b}, ${c})`);
    }
  });
  it('keeps special values and signed zeros', () => {
    assert.equal(fmaF64(1e300, 1e300, -Infinity), -Infinity);
    assert.ok(Object.is(fmaF64(-1e-300, 1e-300, 0), -0));
    assert.ok(Number.isNaN(fmaF64(Infinity, 0, 1)));
  });
});
