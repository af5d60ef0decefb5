/**
 * Statistics of a delta d = b - a, accumulated in binary64 while the kernels stream a tensor in chunks
 * (possibly several chunks in parallel, merged at the end).
 *
 * Definitions:
 * - `count` counts every element; the sums, `min`, `max` and `maxAbs` skip elements whose binary32 delta is
 *   not finite (NaN or infinite; a finite delta implies finite a and b), which `nonFinite` counts.
 * - `unchanged` counts elements whose widened values are numerically equal (a == b in IEEE terms: +0 equals
 *   -0, NaN never equals anything); for finite values that is exactly a delta of zero.
 * - `histogram` counts every element under the top 16 bits of its binary32 delta (sign, exponent and top
 *   7 mantissa bits, i.e. the delta truncated to bfloat16). It is exact; keys with exponent 0xff hold the
 *   non-finite deltas. It costs 512 KiB per object: finalize it per tensor and drop it.
 */
import { bitsToF32 } from '../numerics/float-bits';

/** One counter per 16-bit key. */
const HISTOGRAM_KEYS = 65_536;
const DEFAULT_HISTOGRAM_BINS = 64;

export interface DeltaStatistics {
  count: number;
  /** Sum of d. */
  sum: number;
  /** Sum of d^2. */
  sumSquares: number;
  /** Sum of a^2 (the base). */
  baseSumSquares: number;
  /** Sum of b^2 (the other checkpoint). */
  otherSumSquares: number;
  /** Sum of a * b. */
  dot: number;
  /** Smallest finite d (+Infinity while there is none). */
  min: number;
  /** Largest finite d (-Infinity while there is none). */
  max: number;
  /** Largest finite |d| (0 while there is none). */
  maxAbs: number;
  unchanged: number;
  nonFinite: number;
  /** Exact counts by the top 16 bits of the binary32 delta. */
  histogram: Float64Array;
}

export interface DeltaHistogram {
  min: number;
  max: number;
  /** Counts of finite deltas in equal-width bins over [min, max]. */
  counts: number[];
}

export function createDeltaStatistics(): DeltaStatistics {
  return {
    count: 0, sum: 0, sumSquares: 0, baseSumSquares: 0, otherSumSquares: 0, dot: 0,
    min: Infinity, max: -Infinity, maxAbs: 0, unchanged: 0, nonFinite: 0,
    histogram: new Float64Array(HISTOGRAM_KEYS),
  };
}

/** A new object holding both; neither argument changes. */
export function mergeDeltaStatistics(first: DeltaStatistics, second: DeltaStatistics): DeltaStatistics {
  const histogram = new Float64Array(HISTOGRAM_KEYS);
  for (let key = 0; key < HISTOGRAM_KEYS; key++) histogram[key] = first.histogram[key]! + second.histogram[key]!;
  return {
    count: first.count + second.count,
    sum: first.sum + second.sum,
    sumSquares: first.sumSquares + second.sumSquares,
    baseSumSquares: first.baseSumSquares + second.baseSumSquares,
    otherSumSquares: first.otherSumSquares + second.otherSumSquares,
    dot: first.dot + second.dot,
    min: Math.min(first.min, second.min),
    max: Math.max(first.max, second.max),
    maxAbs: Math.max(first.maxAbs, second.maxAbs),
    unchanged: first.unchanged + second.unchanged,
    nonFinite: first.nonFinite + second.nonFinite,
    histogram,
  };
}

/**
 * Re-bins the exact histogram into `bins` equal-width bins over [min, max] of the finite deltas. Each fine
 * bucket moves whole into the bin holding its smallest-magnitude value (the delta truncated to bfloat16,
 * clamped into [min, max]), so an element may land one bin off where a bin edge cuts through its bucket
 * (buckets are 2^-7 of their value wide). With one distinct value, every count lands in the first bin.
 */
export function finalizeHistogram(stats: DeltaStatistics, bins = DEFAULT_HISTOGRAM_BINS): DeltaHistogram {
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  const counts = new Array<number>(bins).fill(0);
  if (!(stats.min <= stats.max)) return { min: stats.min, max: stats.max, counts };
  const width = (stats.max - stats.min) / bins;
  for (let key = 0; key < HISTOGRAM_KEYS; key++) {
    const n = stats.histogram[key]!;
    if (n === 0 || (key & 0x7f80) === 0x7f80) continue;
    const value = Math.min(stats.max, Math.max(stats.min, bitsToF32(key << 16)));
    const bin = width === 0 ? 0 : Math.min(bins - 1, Math.floor((value - stats.min) / width));
    counts[bin]! += n;
  }
  return { min: stats.min, max: stats.max, counts };
}

/**
 * Adds `length` elements to `stats`: widened a and b, the binary32 delta d and its bits. Used by the plain-JS
 * kernels and for the WebAssembly kernels' chunk tails.
 */
export function accumulateDeltas(
  stats: DeltaStatistics, a: ArrayLike<number>, b: ArrayLike<number>, d: ArrayLike<number>,
  dBits: ArrayLike<number>, length: number,
): void {
  let sum = 0;
  let sumSquares = 0;
  let baseSumSquares = 0;
  let otherSumSquares = 0;
  let dot = 0;
  let min = stats.min;
  let max = stats.max;
  let unchanged = 0;
  let nonFinite = 0;
  const histogram = stats.histogram;
  for (let i = 0; i < length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const delta = d[i]!;
    if (x === y) unchanged++;
    histogram[dBits[i]! >>> 16]! += 1;
    // delta - delta is 0 exactly when delta is finite (NaN for NaN and infinities).
    if (delta - delta !== 0) {
      nonFinite++;
      continue;
    }
    sum += delta;
    sumSquares += delta * delta;
    baseSumSquares += x * x;
    otherSumSquares += y * y;
    dot += x * y;
    if (delta < min) min = delta;
    if (delta > max) max = delta;
  }
  addTotals(stats, {
    count: length, sum, sumSquares, baseSumSquares, otherSumSquares, dot, min, max, unchanged, nonFinite,
  });
}

/** Totals of one pass, added into `stats` (min and max merged, maxAbs derived, zero's sign dropped). */
export function addTotals(
  stats: DeltaStatistics,
  totals: Omit<DeltaStatistics, 'histogram' | 'maxAbs'>,
): void {
  stats.count += totals.count;
  stats.sum += totals.sum;
  stats.sumSquares += totals.sumSquares;
  stats.baseSumSquares += totals.baseSumSquares;
  stats.otherSumSquares += totals.otherSumSquares;
  stats.dot += totals.dot;
  // Adding 0 turns -0 into +0, so which zero comes first in a pass cannot change the result.
  stats.min = Math.min(stats.min, totals.min) + 0;
  stats.max = Math.max(stats.max, totals.max) + 0;
  if (stats.min <= stats.max) stats.maxAbs = Math.max(-stats.min, stats.max);
  stats.unchanged += totals.unchanged;
  stats.nonFinite += totals.nonFinite;
}
