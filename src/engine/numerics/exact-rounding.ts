/**
 * Exact binary floating-point arithmetic with BigInt: a finite float is `mantissa * 2^exponent` with an
 * integer mantissa, and any such value rounds once, to nearest with ties to even, into a binary format.
 * Slow (microseconds per value); used where correctness cannot rest on the FPU (rare fused multiply-add
 * ranges) and as the independent reference in tests.
 */
import { f64ToWords } from './float-bits';

export interface BinaryFormat {
  /** Significant bits including the implicit leading bit. */
  readonly precision: number;
  /** Exponent of the smallest normal number. */
  readonly minExponent: number;
  /** Exponent of the largest finite number. */
  readonly maxExponent: number;
}

export const BINARY16: BinaryFormat = { precision: 11, minExponent: -14, maxExponent: 15 };
export const BINARY32: BinaryFormat = { precision: 24, minExponent: -126, maxExponent: 127 };
export const BINARY64: BinaryFormat = { precision: 53, minExponent: -1022, maxExponent: 1023 };

/** A finite value as `mantissa * 2^exponent` (the sign lives in the mantissa; zero has mantissa 0n). */
export interface ScaledInteger {
  mantissa: bigint;
  exponent: number;
}

/** Decomposes a finite number exactly. */
export function toScaledInteger(value: number): ScaledInteger {
  if (!Number.isFinite(value)) throw new RangeError(`not finite: ${value}`);
  const [high, low] = f64ToWords(value);
  const biasedExponent = (high >>> 20) & 0x7ff;
  const fraction = (BigInt(high & 0xf_ffff) << 32n) | BigInt(low);
  const negative = high >>> 31 === 1;
  const magnitude = biasedExponent === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (biasedExponent === 0 ? 1 : biasedExponent) - 1023 - 52;
  return { mantissa: negative ? -magnitude : magnitude, exponent };
}

/** The exact sum of two scaled integers. */
export function addScaled(x: ScaledInteger, y: ScaledInteger): ScaledInteger {
  const exponent = Math.min(x.exponent, y.exponent);
  return {
    mantissa: (x.mantissa << BigInt(x.exponent - exponent)) + (y.mantissa << BigInt(y.exponent - exponent)),
    exponent,
  };
}

/** The exact product of two scaled integers. */
export function multiplyScaled(x: ScaledInteger, y: ScaledInteger): ScaledInteger {
  return { mantissa: x.mantissa * y.mantissa, exponent: x.exponent + y.exponent };
}

/**
 * Rounds `mantissa * 2^exponent` to `format` (nearest, ties to even; overflow to infinity).
 * A zero mantissa gives +0; callers that need a signed zero decide it themselves.
 */
export function roundScaledInteger(value: ScaledInteger, format: BinaryFormat): number {
  const negative = value.mantissa < 0n;
  let magnitude = negative ? -value.mantissa : value.mantissa;
  if (magnitude === 0n) return 0;
  const leadingExponent = value.exponent + magnitude.toString(2).length - 1;
  // The weight of the last kept bit: `precision` bits below the leading one, never below the subnormal step.
  const quantum = Math.max(leadingExponent, format.minExponent) - (format.precision - 1);
  if (value.exponent < quantum) {
    const shift = BigInt(quantum - value.exponent);
    const kept = magnitude >> shift;
    const dropped = magnitude - (kept << shift);
    const half = 1n << (shift - 1n);
    magnitude = dropped > half || (dropped === half && (kept & 1n) === 1n) ? kept + 1n : kept;
  } else {
    magnitude <<= BigInt(value.exponent - quantum);
  }
  const limit = 2 ** (format.maxExponent + 1);
  // Both factors are exact binary64 numbers: `magnitude` has at most precision + 1 bits and the
  // quantum is at least binary64's subnormal step, so the product is exact unless it overflows.
  const result = magnitude === 0n ? 0 : Number(magnitude) * 2 ** quantum;
  const finite = result >= limit ? Infinity : result;
  return negative ? -finite : finite;
}
