/** What `compare` (verify) accumulates: x is the recomputed value, y the stored one. */
export interface CompareAccumulator {
  count: number;
  /**
   * Elements with the same bits once both are widened exactly to a common dtype (binary32, or binary64 when
   * either is F64); for equal dtypes that is the same bytes.
   */
  identical: number;
  /** Elements that are not identical but equal as numbers: +0 against -0, the one such pair. */
  signedZeroOnly: number;
  /** Largest |x - y| in binary64 over elements where both are finite. */
  maxAbsError: number;
  /** Elements where x or y is not finite and they differ (NaN against NaN of another payload matches). */
  nonFiniteMismatch: number;
}

export function createCompareAccumulator(): CompareAccumulator {
  return { count: 0, identical: 0, signedZeroOnly: 0, maxAbsError: 0, nonFiniteMismatch: 0 };
}
