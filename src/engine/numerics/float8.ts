/**
 * The two 8-bit float formats of FP8 checkpoints (docs/fp8.md), as PyTorch names them:
 *
 * - `float8_e4m3fn` (safetensors F8_E4M3): 1 sign, 4 exponent bits (bias 7), 3 mantissa bits. No infinities;
 *   S.1111.111 is NaN, so the largest finite magnitude is 1.75 * 2^8 = 448. Exponent 0 is subnormal: m/8 * 2^-6.
 * - `float8_e5m2` (safetensors F8_E5M2): 1 sign, 5 exponent bits (bias 15), 2 mantissa bits, IEEE-like with
 *   infinities and NaN; the top byte of a binary16.
 *
 * Every value of either format is exact in binary32. Decoding is exact; NaN decodes to the quiet binary32 NaN
 * 0x7FC00000 with the byte's sign. Encoding binary32 to E4M3 rounds to nearest, ties to even, and saturates:
 * magnitudes above 448 (infinities included) become ±448, NaN stays NaN (0x7F or 0xFF, the sign kept) and -0
 * stays -0 (0x80). PyTorch's own `.to(torch.float8_e4m3fn)` turns magnitudes beyond the format into NaN
 * instead; the FP8 quantizers clamp before they cast, and so does this encoder (CUDA's `__NV_SATFINITE`).
 */
import { bitsToF32, f32ToBits, F32_EXPONENT_MASK } from './float-bits';

export const E4M3_MAX = 448;
/** The binary32 bits of 448, the largest finite E4M3 magnitude. */
const E4M3_MAX_F32_BITS = 0x43e0_0000;
/** Positive E4M3 NaN (S.1111.111); 0xFF is the negative one. */
const E4M3_NAN = 0x7f;
/** Positive E4M3 448 (S.1111.110). */
const E4M3_MAX_BITS = 0x7e;
/** The quiet binary32 NaN that decoding gives for an FP8 NaN (with the byte's sign). */
export const DECODED_NAN_BITS = 0x7fc0_0000;

/** binary32 exponent bias minus E4M3's (127 - 7), in binary32 exponent-field units. */
const E4M3_REBIAS = 120 << 23;
/** binary32 bits of 2^-6, E4M3's smallest normal magnitude. */
const E4M3_MIN_NORMAL_F32_BITS = 0x3c80_0000;
/** Adding 2^14 leaves binary32 steps of 2^-9, E4M3's subnormal step: the FPU rounds subnormals for us. */
const SUBNORMAL_MAGIC = 2 ** 14;
const SUBNORMAL_MAGIC_BITS = 0x4680_0000;

/** The binary32 bits of the E4M3 `byte` (exact; NaN gives the quiet NaN with the byte's sign). */
export function e4m3BitsToF32Bits(byte: number): number {
  const sign = (byte & 0x80) << 24;
  const magnitude = byte & 0x7f;
  if (magnitude === E4M3_NAN) return (sign | DECODED_NAN_BITS) >>> 0;
  if (magnitude >= 0x08) return (sign | ((magnitude << 20) + E4M3_REBIAS)) >>> 0;
  // Subnormal: m/8 * 2^-6 = m * 2^-9, exact in binary32 and normal there.
  return (sign | f32ToBits(magnitude * 2 ** -9)) >>> 0;
}

/** The binary32 bits of the E5M2 `byte` (exact; infinities kept; NaN gives the quiet NaN with the byte's sign). */
export function e5m2BitsToF32Bits(byte: number): number {
  const sign = (byte & 0x80) << 24;
  const exponent = (byte >>> 2) & 0x1f;
  const mantissa = byte & 0x3;
  if (exponent === 0x1f) return (sign | (mantissa === 0 ? F32_EXPONENT_MASK : DECODED_NAN_BITS)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 21)) >>> 0;
  // Subnormal: m/4 * 2^-14 = m * 2^-16.
  return (sign | f32ToBits(mantissa * 2 ** -16)) >>> 0;
}

/** The binary32 bits of every E4M3 byte, by byte. */
export const E4M3_TO_F32_BITS: Uint32Array = Uint32Array.from({ length: 256 }, (_, byte) => e4m3BitsToF32Bits(byte));
/** The binary32 bits of every E5M2 byte, by byte. */
export const E5M2_TO_F32_BITS: Uint32Array = Uint32Array.from({ length: 256 }, (_, byte) => e5m2BitsToF32Bits(byte));
/** The values of every E4M3 byte (NaN bytes read as NaN; take their bits from E4M3_TO_F32_BITS). */
export const E4M3_VALUES: Float32Array = new Float32Array(E4M3_TO_F32_BITS.buffer.slice(0));
/** The values of every E5M2 byte. */
export const E5M2_VALUES: Float32Array = new Float32Array(E5M2_TO_F32_BITS.buffer.slice(0));

export function e4m3ToNumber(byte: number): number {
  return bitsToF32(E4M3_TO_F32_BITS[byte & 0xff]!);
}

export function e5m2ToNumber(byte: number): number {
  return bitsToF32(E5M2_TO_F32_BITS[byte & 0xff]!);
}

/**
 * Rounds binary32 `bits` to E4M3: nearest, ties to even; magnitudes above 448 and infinities saturate to ±448;
 * NaN gives 0x7F with the sign bit of the input; zeros keep their sign.
 */
export function f32BitsToE4m3Bits(bits: number): number {
  const u = bits >>> 0;
  const sign = (u >>> 24) & 0x80;
  const magnitude = u & 0x7fff_ffff;
  if (magnitude > F32_EXPONENT_MASK) return sign | E4M3_NAN;
  if (magnitude >= E4M3_MAX_F32_BITS) return sign | E4M3_MAX_BITS;
  if (magnitude >= E4M3_MIN_NORMAL_F32_BITS) {
    // Rebias the exponent and round the 20 dropped mantissa bits to nearest even; a carry moves to the next binade.
    const rebiased = magnitude - E4M3_REBIAS;
    return sign | ((rebiased + 0x7_ffff + ((rebiased >>> 20) & 1)) >>> 20);
  }
  // Below 2^-6 the step is 2^-9: the binary32 sum with 2^14 rounds to it (ties to even), and its low bits count
  // the steps (8 steps is 2^-6, which encodes as the smallest normal, 0x08).
  return sign | (f32ToBits(Math.fround(bitsToF32(magnitude) + SUBNORMAL_MAGIC)) - SUBNORMAL_MAGIC_BITS);
}

/** `value` rounded to binary32 first, then to E4M3 (a NaN number gives 0x7F). */
export function numberToE4m3Bits(value: number): number {
  if (Number.isNaN(value)) return E4M3_NAN;
  return f32BitsToE4m3Bits(f32ToBits(value));
}


/** The FP8 dtypes whose values the kernels decode. */
export type Fp8Dtype = 'F8_E4M3' | 'F8_E5M2';

export function isFp8Dtype(dtype: string): dtype is Fp8Dtype {
  return dtype === 'F8_E4M3' || dtype === 'F8_E5M2';
}
