import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatCount } from '../../../src/engine/report/quantities';

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
