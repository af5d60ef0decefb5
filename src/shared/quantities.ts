/**
 * Counts, sizes, parameters and statistics in words: the one definition the CLI, the model card, the
 * extension and the report webview all use. Pure, with no Node imports: the webview bundle takes it.
 * Counts are grouped by hand: the first `toLocaleString('en-US')` of a process loads ICU's number
 * formatting, 33 ms of a 0.3 s `inspect` here.
 */

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;
/** Thousands, millions, billions, trillions: a parameter count takes one of these, or none below a thousand. */
const PARAMETER_SUFFIXES = ['K', 'M', 'B', 'T'] as const;
/** Significant digits of a statistic in the report. */
const STATISTIC_DIGITS = 4;

/** `1234567` as `1,234,567`. Values that are not safe integers keep `toLocaleString`'s words. */
export function formatCount(value: number): string {
  if (!Number.isSafeInteger(value)) return value.toLocaleString('en-US');
  const digits = String(Math.abs(value));
  let grouped = digits.slice(0, digits.length % 3 || 3);
  for (let at = grouped.length; at < digits.length; at += 3) grouped += `,${digits.slice(at, at + 3)}`;
  return value < 0 ? `-${grouped}` : grouped;
}

/** Decimal units with three significant digits: `999 B`, `1.50 MB`, `16.1 GB`, `138 GB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  // Thresholds at the rounding points, so 999,999 bytes reads 1.00 MB, not 1000 KB.
  while (value >= 999.5 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const decimals = unit === 0 || value >= 99.95 ? 0 : value >= 9.995 ? 1 : 2;
  return `${value.toFixed(decimals)} ${BYTE_UNITS[unit]}`;
}

/**
 * Parameter counts the way model cards write them, three significant digits and one suffix:
 * `7.24B`, `131M`, `4.1K`, or the plain count below a thousand. A size in bytes is `formatBytes`'s.
 */
export function formatParameters(count: number): string {
  if (!Number.isFinite(count)) return String(count);
  let unit = -1;
  // Up a unit wherever three significant digits would round to 1000, so 999,999 reads 1M, not 1000K.
  while (unit < PARAMETER_SUFFIXES.length - 1 && Math.abs(Number(scaled(count, unit).toPrecision(3))) >= 1000) unit++;
  return unit < 0 ? String(count) : `${Number(scaled(count, unit).toPrecision(3))}${PARAMETER_SUFFIXES[unit]}`;
}

function scaled(count: number, unit: number): number {
  return unit < 0 ? count : count / 1000 ** (unit + 1);
}

/** A statistic for display: `—` when absent, exponent notation for very small or large values. */
export function formatStatistic(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e5) return value.toExponential(STATISTIC_DIGITS - 1);
  return Number(value.toPrecision(STATISTIC_DIGITS)).toString();
}

/** A fraction as a percentage with two decimals (none for exactly 0 or 1); `—` when absent. */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
  return `${(fraction * 100).toFixed(fraction === 0 || fraction === 1 ? 0 : 2)}%`;
}

export function formatShape(shape: readonly number[] | undefined): string {
  return shape === undefined ? '—' : `[${shape.join(', ')}]`;
}

/** A formatter chosen once for a whole column (or axis), so that every value in it reads the same way. */
export type NumberFormat = (value: number | null | undefined) => string;

/**
 * One notation for a column of statistics, with four significant digits on every value: fixed
 * notation when every non-zero value is within [1e-3, 1e4), exponent notation for all of them
 * otherwise. Trailing zeros stay (`1.000`, `33.40`), so the digits line up down the column. Exact
 * zeros read `0` and absent values `—`, as in `formatStatistic`.
 */
export function statisticColumnFormat(values: Iterable<number | null | undefined>): NumberFormat {
  let fixed = true;
  for (const value of values) {
    if (value === null || value === undefined || !Number.isFinite(value) || value === 0) continue;
    const rounded = Math.abs(Number(value.toPrecision(STATISTIC_DIGITS)));
    if (rounded < 1e-3 || rounded >= 1e4) {
      fixed = false;
      break;
    }
  }
  return (value) => {
    if (value === null || value === undefined || !Number.isFinite(value) || value === 0) return formatStatistic(value);
    return fixed ? value.toPrecision(STATISTIC_DIGITS) : value.toExponential(STATISTIC_DIGITS - 1);
  };
}

/** Fractions as percentages with two decimals on every value (`0.00%`, `12.35%`, `100.00%`): a column's one format. */
export const formatPercentColumn: NumberFormat = (fraction) => {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
  return `${(fraction * 100).toFixed(2)}%`;
};

/**
 * A round axis value (a multiple of 1, 2 or 5 × 10^k) in its shortest form: `0`, `0.05`, `200`,
 * `2e-4`, `1.5e+6`; exponent notation where `formatStatistic` would use it. Float noise from the
 * tick arithmetic (0.30000000000000004) is rounded away.
 */
export function formatAxisValue(value: number): string {
  if (!Number.isFinite(value)) return formatStatistic(value);
  const clean = Number(value.toPrecision(12));
  if (clean === 0) return '0';
  const magnitude = Math.abs(clean);
  return magnitude < 1e-3 || magnitude >= 1e5 ? clean.toExponential() : String(clean);
}

/** The first `limit` items joined by commas, then `and N more`: `"a", "b" and 3 more`. */
export function formatFirstOf(items: readonly string[], limit: number): string {
  const shown = items.slice(0, limit).join(', ');
  return items.length > limit ? `${shown} and ${items.length - limit} more` : shown;
}
