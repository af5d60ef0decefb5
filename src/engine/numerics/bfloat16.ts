/**
 * bfloat16: the top 16 bits of a binary32 (1 sign, 8 exponent, 7 mantissa bits).
 * Widening is exact (a shift, NaN payload kept as PyTorch keeps it); narrowing rounds to nearest,
 * ties to even, and turns every NaN into a quiet NaN of the same sign.
 */
import { bitsToF32, f32ToBits, isNaNF32Bits } from './float-bits';

/** The quiet bit of a bfloat16 NaN (the top mantissa bit). */
const BF16_QUIET_BIT = 0x0040;

/** The binary32 bits of the bfloat16 `bits` (exact). */
export function bf16BitsToF32Bits(bits: number): number {
  return ((bits & 0xffff) << 16) >>> 0;
}

/** The value of the bfloat16 `bits`. */
export function bf16ToNumber(bits: number): number {
  return bitsToF32(bf16BitsToF32Bits(bits));
}

/** Rounds binary32 `bits` to bfloat16 bits: nearest, ties to even; NaN becomes a quiet NaN. */
export function f32BitsToBf16Bits(bits: number): number {
  const u = bits >>> 0;
  const upper = u >>> 16;
  if (isNaNF32Bits(u)) return upper | BF16_QUIET_BIT;
  const dropped = u & 0xffff;
  const half = 0x8000;
  const roundUp = dropped > half || (dropped === half && (upper & 1) === 1);
  // Rounding up the largest finite magnitude carries into the exponent and gives infinity, as it should.
  return roundUp ? (upper + 1) & 0xffff : upper;
}

/** Rounds `value` to binary32 first (as PyTorch does for float64 input), then to bfloat16 bits. */
export function numberToBf16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7fc0;
  return f32BitsToBf16Bits(f32ToBits(value));
}
