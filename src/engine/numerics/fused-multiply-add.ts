/**
 * Fused multiply-add with a single rounding, as PyTorch's vectorised CPU kernels compute
 * `torch.add(c, r, alpha=alpha)` (`fmadd(r, alpha, c)`) for float, bfloat16 and float16 (in float; for the last two
 * PyTorch rounds alpha to the tensors' dtype first) and for float64 (in double). JavaScript and WebAssembly SIMD
 * have no FMA instruction, so both are emulated.
 */
import {
  addScaled, BINARY64, multiplyScaled, roundScaledInteger, toScaledInteger,
} from './exact-rounding';
import { isOddF64, stepF64Magnitude } from './float-bits';

/**
 * `a * b + c` for binary32 values, rounded once to binary32.
 *
 * The product of two binary32 values is exact in binary64 (48 significant bits, no overflow), so only the
 * sum rounds twice: once to binary64, then to binary32. Rounding the binary64 sum to odd instead of to
 * nearest makes the second rounding correct (Boldo and Melquiond: round-to-odd with at least two extra
 * bits of precision is innocuous), and round-to-odd is the nearest sum nudged one unit towards the exact
 * value whenever the sum was inexact and its last bit is even.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const product = a * b;
  const sum = product + c;
  if (!Number.isFinite(sum)) return Math.fround(sum);
  return Math.fround(roundedToOdd(sum, twoSumError(product, c, sum)));
}

/** Smallest product magnitude for which Dekker's exact product has no underflow in its error term. */
const MIN_EXACT_PRODUCT = 2 ** -900;
/** Largest factor magnitude Veltkamp's split can scale by 2^27 + 1 without overflow. */
const MAX_SPLIT_FACTOR = 2 ** 995;
/** Largest addend magnitude for which the error-free sums cannot overflow. */
const MAX_SUM_TERM = 2 ** 1020;
/** Veltkamp's splitting constant for binary64: 2^27 + 1. */
const SPLITTER = 134_217_729;

/**
 * `a * b + c` for binary64 values, rounded once (Boldo and Melquiond's emulation: exact product, exact sum,
 * round-to-odd of the low parts, then one rounding to nearest). Outside the ranges where those error-free
 * transformations are exact, the exact value is computed with BigInt.
 */
export function fmaF64(a: number, b: number, c: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a * b + c;
  // A finite product plus an infinite or NaN addend is the addend, even where a * b itself would overflow.
  if (!Number.isFinite(c)) return c;
  // A zero addend keeps the sign of the rounded product, even when it rounds to zero.
  if (c === 0 && a !== 0 && b !== 0) return a * b;
  if (a === 0 || b === 0) return a * b + c;
  const product = a * b;
  const magnitude = Math.abs(product);
  if (
    magnitude < MIN_EXACT_PRODUCT || magnitude > MAX_SUM_TERM || Math.abs(c) > MAX_SUM_TERM
    || Math.abs(a) > MAX_SPLIT_FACTOR || Math.abs(b) > MAX_SPLIT_FACTOR
  ) {
    return exactFmaF64(a, b, c);
  }
  const productError = twoProductError(a, b, product);
  const high = c + product;
  const low = twoSumError(c, product, high);
  const tail = low + productError;
  return high + roundedToOdd(tail, twoSumError(low, productError, tail));
}

function exactFmaF64(a: number, b: number, c: number): number {
  const exact = addScaled(multiplyScaled(toScaledInteger(a), toScaledInteger(b)), toScaledInteger(c));
  // An exact zero is +0 under round-to-nearest; operands here are finite and a, b non-zero.
  return exact.mantissa === 0n ? 0 : roundScaledInteger(exact, BINARY64);
}

/** Knuth's TwoSum: the exact error of `sum = x + y` (no overflow assumed). */
function twoSumError(x: number, y: number, sum: number): number {
  const yPart = sum - x;
  const xPart = sum - yPart;
  return (x - xPart) + (y - yPart);
}

/** Dekker's TwoProduct: the exact error of `product = x * y` (within the ranges checked above). */
function twoProductError(x: number, y: number, product: number): number {
  const xScaled = SPLITTER * x;
  const xHigh = xScaled - (xScaled - x);
  const xLow = x - xHigh;
  const yScaled = SPLITTER * y;
  const yHigh = yScaled - (yScaled - y);
  const yLow = y - yHigh;
  return ((xHigh * yHigh - product) + xHigh * yLow + xLow * yHigh) + xLow * yLow;
}

/** `nearest` (a rounded sum) rounded to odd instead, given the exact error `error` of that sum. */
function roundedToOdd(nearest: number, error: number): number {
  if (error === 0 || isOddF64(nearest)) return nearest;
  // The error has the sign of (exact - nearest): away from zero when it agrees with the sum's sign.
  return stepF64Magnitude(nearest, (error > 0) === (nearest > 0) ? 1 : -1);
}
