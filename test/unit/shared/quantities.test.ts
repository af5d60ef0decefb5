import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatCount, formatFirstOf, formatParameters, formatPercent, formatShape, formatStatistic } from '../../../src/shared/quantities';

test('formatCount groups digits as en-US does, for every group length and sign', () => {
  for (const value of [0, 7, 12, 999, 1000, 12_345, 123_456, 1_234_567, 68_976_648_192, -1, -1000, -123_456_789, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
    assert.equal(formatCount(value), value.toLocaleString('en-US'), String(value));
  }
  assert.equal(formatCount(68_976_648_192), '68,976,648,192');
});

test('formatCount leaves values that are not safe integers to toLocaleString', () => {
  assert.equal(formatCount(1234.5), '1,234.5');
  assert.equal(formatCount(2 ** 60), (2 ** 60).toLocaleString('en-US'));
  assert.equal(formatCount(Number.NaN), 'NaN');
});

test('formatBytes gives three significant digits in decimal units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1000), '1.00 KB');
  assert.equal(formatBytes(1_500_000), '1.50 MB');
  assert.equal(formatBytes(16_060_000_000), '16.1 GB');
  assert.equal(formatBytes(137_952_000_000), '138 GB');
  assert.equal(formatBytes(4e15), '4000 TB');
});

test('formatBytes moves up a unit where rounding would reach 1000', () => {
  assert.equal(formatBytes(999_999), '1.00 MB');
  assert.equal(formatBytes(999_499), '999 KB');
  assert.equal(formatBytes(9_996), '10.0 KB');
  assert.equal(formatBytes(99_960), '100 KB');
  assert.equal(formatBytes(999.7), '1.00 KB');
});

test('formatParameters writes three significant digits and one suffix', () => {
  assert.equal(formatParameters(0), '0');
  assert.equal(formatParameters(999), '999');
  assert.equal(formatParameters(1000), '1K');
  assert.equal(formatParameters(4_100), '4.1K');
  assert.equal(formatParameters(131_000_000), '131M');
  assert.equal(formatParameters(2_010_000_000), '2.01B');
  assert.equal(formatParameters(7_241_732_096), '7.24B');
  assert.equal(formatParameters(16_000_000_000), '16B');
  assert.equal(formatParameters(1e12), '1T');
  assert.equal(formatParameters(-2_500_000), '-2.5M');
});

test('formatParameters moves up a suffix where rounding would reach 1000', () => {
  assert.equal(formatParameters(999_499), '999K');
  assert.equal(formatParameters(999_999), '1M');
  assert.equal(formatParameters(999_999_999), '1B');
});

test('formatParameters never doubles a suffix', () => {
  for (let count = 1; count < 1e16; count *= 7) assert.match(formatParameters(Math.round(count)), /^\d+(\.\d+)?[KMBT]?$/, String(count));
});

test('formatStatistic keeps four significant digits, in exponent form when very small or large', () => {
  assert.equal(formatStatistic(null), '—');
  assert.equal(formatStatistic(undefined), '—');
  assert.equal(formatStatistic(Number.NaN), 'NaN');
  assert.equal(formatStatistic(Number.NEGATIVE_INFINITY), '-∞');
  assert.equal(formatStatistic(0), '0');
  assert.equal(formatStatistic(0.123456), '0.1235');
  assert.equal(formatStatistic(1234.5678), '1235');
  assert.equal(formatStatistic(0.000123456), '1.235e-4');
  assert.equal(formatStatistic(123_456), '1.235e+5');
});

test('formatPercent and formatShape', () => {
  assert.equal(formatPercent(0), '0%');
  assert.equal(formatPercent(1), '100%');
  assert.equal(formatPercent(0.12345), '12.35%');
  assert.equal(formatPercent(null), '—');
  assert.equal(formatShape([4096, 11008]), '[4096, 11008]');
  assert.equal(formatShape(undefined), '—');
});

test('formatFirstOf lists the items up to the limit, then says how many more there are', () => {
  assert.equal(formatFirstOf([], 3), '');
  assert.equal(formatFirstOf(['a', 'b', 'c'], 3), 'a, b, c');
  assert.equal(formatFirstOf(['a', 'b', 'c', 'd', 'e'], 2), 'a, b and 3 more');
});
