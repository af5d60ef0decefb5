/**
 * Bit-level views of JavaScript numbers as IEEE 754 binary32 and binary64 values.
 *
 * A JavaScript number read from a Float32Array may lose a signalling NaN's payload (x86 quiets it when
 * widening), so code that must keep NaN bits copies them through integer views instead of these helpers.
 */
const scratch = new ArrayBuffer(8);
const scratchF32 = new Float32Array(scratch, 0, 1);
const scratchF64 = new Float64Array(scratch);
const scratchU32 = new Uint32Array(scratch);
/** Index of the high (sign and exponent) word of a binary64 in `scratchU32` on this machine. */
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LOW_WORD = 1 - HIGH_WORD;

export const F32_EXPONENT_MASK = 0x7f80_0000;
export const F32_MANTISSA_MASK = 0x007f_ffff;

/** The binary32 bits of `value` rounded to binary32 (as an unsigned 32-bit integer). */
export function f32ToBits(value: number): number {
  scratchF32[0] = value;
  return scratchU32[0]!;
}

/** The number whose binary32 encoding is `bits` (the low 32 bits of the argument). */
export function bitsToF32(bits: number): number {
  scratchU32[0] = bits >>> 0;
  return scratchF32[0]!;
}

export function isNaNF32Bits(bits: number): boolean {
  return (bits & F32_EXPONENT_MASK) === F32_EXPONENT_MASK && (bits & F32_MANTISSA_MASK) !== 0;
}

/** The binary64 bits of `value` as [high word, low word] (unsigned 32-bit integers). */
export function f64ToWords(value: number): [high: number, low: number] {
  scratchF64[0] = value;
  return [scratchU32[HIGH_WORD]!, scratchU32[LOW_WORD]!];
}

/**
 * The neighbour of the finite, non-zero binary64 `value` one unit in the last place away from zero
 * (`direction` 1) or towards zero (`direction` -1).
 */
export function stepF64Magnitude(value: number, direction: 1 | -1): number {
  scratchF64[0] = value;
  let low = scratchU32[LOW_WORD]! + direction;
  let high = scratchU32[HIGH_WORD]!;
  if (low > 0xffff_ffff) {
    low = 0;
    high += 1;
  } else if (low < 0) {
    low = 0xffff_ffff;
    high -= 1;
  }
  scratchU32[LOW_WORD] = low;
  scratchU32[HIGH_WORD] = high;
  return scratchF64[0]!;
}

/** True when the last mantissa bit of the binary64 `value` is 1. */
export function isOddF64(value: number): boolean {
  scratchF64[0] = value;
  return (scratchU32[LOW_WORD]! & 1) === 1;
}
