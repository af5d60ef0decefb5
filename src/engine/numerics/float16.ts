/**
 * IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits, subnormals down to 2^-24).
 * Widening is exact (NaN payload kept, as PyTorch keeps it); narrowing rounds to nearest, ties to even,
 * including into the subnormal range, overflows to infinity and turns every NaN into the quiet NaN
 * 0x7E00 with the input's sign (PyTorch's scalar conversion gives the same).
 */
import { bitsToF32, f32ToBits, F32_EXPONENT_MASK, F32_MANTISSA_MASK } from './float-bits';

const F16_QUIET_NAN = 0x7e00;
export const F16_INFINITY = 0x7c00;
const F16_EXPONENT_BIAS = 15;
const F32_EXPONENT_BIAS = 127;
/** binary16 keeps 10 of binary32's 23 mantissa bits. */
const DROPPED_MANTISSA_BITS = 13;

/** The binary32 bits of the binary16 `bits` (exact, also for subnormals, infinities and NaN payloads). */
export function f16BitsToF32Bits(bits: number): number {
  const sign = (bits & 0x8000) << 16;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return (sign | F32_EXPONENT_MASK | (mantissa << DROPPED_MANTISSA_BITS)) >>> 0;
  if (exponent !== 0) {
    const f32Exponent = exponent - F16_EXPONENT_BIAS + F32_EXPONENT_BIAS;
    return (sign | (f32Exponent << 23) | (mantissa << DROPPED_MANTISSA_BITS)) >>> 0;
  }
  // A subnormal is mantissa * 2^-24: exact in binary32, so let the FPU normalise it.
  return (sign | f32ToBits(mantissa * 2 ** -24)) >>> 0;
}

/** The value of the binary16 `bits`. */
export function f16ToNumber(bits: number): number {
  return bitsToF32(f16BitsToF32Bits(bits));
}

/** Rounds binary32 `bits` to binary16 bits (nearest, ties to even). */
export function f32BitsToF16Bits(bits: number): number {
  const u = bits >>> 0;
  const sign = (u >>> 16) & 0x8000;
  const f32Exponent = (u & F32_EXPONENT_MASK) >>> 23;
  const f32Mantissa = u & F32_MANTISSA_MASK;
  if (f32Exponent === 0xff) return sign | (f32Mantissa === 0 ? F16_INFINITY : F16_QUIET_NAN);
  if (f32Exponent === 0) return sign; // binary32 subnormals are below half of binary16's smallest subnormal.
  // The significand with its implicit bit, as an integer: value = significand * 2^(exponent - 23).
  const significand = f32Mantissa | 0x80_0000;
  const exponent = f32Exponent - F32_EXPONENT_BIAS;
  // binary16 normals keep 11 significant bits; below 2^-14 the last kept bit is fixed at 2^-24.
  const shift = exponent >= -14 ? DROPPED_MANTISSA_BITS : DROPPED_MANTISSA_BITS + (-14 - exponent);
  const rounded = roundShiftRightEven(significand, shift);
  if (exponent >= -14) {
    // `rounded` is in [2^10, 2^11]; reaching 2^11 moves to the next binade.
    const f16Exponent = exponent + F16_EXPONENT_BIAS + (rounded >> 11);
    const mantissa = rounded >> 11 === 1 ? 0 : rounded & 0x3ff;
    if (f16Exponent >= 0x1f) return sign | F16_INFINITY;
    return sign | (f16Exponent << 10) | mantissa;
  }
  // Subnormal: `rounded` counts units of 2^-24; 0x400 is the smallest normal, which encodes the same way.
  return sign | rounded;
}

/** Rounds `value` to binary32 first (as PyTorch does for float64 input), then to binary16 bits. */
export function numberToF16Bits(value: number): number {
  if (Number.isNaN(value)) return F16_QUIET_NAN;
  return f32BitsToF16Bits(f32ToBits(value));
}

/** `value >> shift`, rounded to nearest with ties to even (value < 2^31). */
function roundShiftRightEven(value: number, shift: number): number {
  if (shift >= 32) return 0;
  const kept = Math.floor(value / 2 ** shift);
  const dropped = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  return dropped > half || (dropped === half && kept % 2 === 1) ? kept + 1 : kept;
}
