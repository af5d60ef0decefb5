/** Number formatting shared by the table, the summary and the chart tooltips. */

const SIGNIFICANT_DIGITS = 4;

/** A statistic for display: `—` when absent, exponent notation for very small or large values. */
export function formatStatistic(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e5) return value.toExponential(SIGNIFICANT_DIGITS - 1);
  return Number(value.toPrecision(SIGNIFICANT_DIGITS)).toString();
}

export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
  return `${(fraction * 100).toFixed(fraction === 0 || fraction === 1 ? 0 : 2)}%`;
}

/** Parameter counts the way model cards write them: 7.24B, 131M, 4.1K. */
export function formatCount(count: number): string {
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
  for (const [size, unit] of units) {
    if (Math.abs(count) >= size) return `${Number((count / size).toPrecision(3))}${unit}`;
  }
  return String(count);
}

export function formatShape(shape: readonly number[] | undefined): string {
  return shape === undefined ? '—' : `[${shape.join(', ')}]`;
}
