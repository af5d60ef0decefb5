import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAxisValue } from '../../../src/shared/quantities';
import { binCentres, niceStep, niceTicks } from '../../../webview/histogram-model';

/** True for 1, 2 or 5 x 10^k times an integer: a round tick. */
function isRound(value: number, step: number): boolean {
  const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6));
  return [1, 2, 5].includes(mantissa) && Math.abs(value / step - Math.round(value / step)) < 1e-9;
}

test('bars are centred in equal bins', () => {
  assert.deepEqual(binCentres(-1, 1, 4), [-0.75, -0.25, 0.25, 0.75]);
});

test('ticks are round values, multiples of 1, 2 or 5 x 10^k, inside the range, at most as many as asked', () => {
  // The histogram of the screenshot's tensor: bin centres were -2.658e-4, -2.236e-4, ...
  assert.deepEqual(niceTicks(-2.7e-4, 2.7e-4, 12), [-2.5e-4, -2e-4, -1.5e-4, -1e-4, -5e-5, 0, 5e-5, 1e-4, 1.5e-4, 2e-4, 2.5e-4]);
  assert.deepEqual(niceTicks(-2.7e-4, 2.7e-4, 6).map(formatAxisValue), ['-2e-4', '-1e-4', '0', '1e-4', '2e-4']);
  assert.deepEqual(niceTicks(0.1, 0.7, 7), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], 'no 0.30000000000000004');
  assert.deepEqual(niceTicks(3, 3, 5), [3]);
  assert.deepEqual(niceTicks(1, 0, 5), []);
  for (const [min, max] of [[-0.0137, 0.0291], [-3.3e-6, 1.2e-6], [-812, 77], [0.5, 1.5]] as const) {
    for (const count of [3, 5, 8, 15]) {
      const ticks = niceTicks(min, max, count);
      const step = niceStep(min, max, count);
      assert.ok(ticks.length >= 2 && ticks.length <= count, `${ticks.length} ticks for ${count} in [${min}, ${max}]`);
      for (const tick of ticks) {
        assert.ok(tick >= min && tick <= max, `${tick} in [${min}, ${max}]`);
        assert.ok(isRound(tick, step), `${tick} is a multiple of ${step}`);
      }
    }
  }
});

test('axis values read in their shortest form', () => {
  assert.deepEqual([0, -0, 0.05, 200, 2e-4, -1.5e-4, 0.1 + 0.2, 1.5e6].map(formatAxisValue), ['0', '0', '0.05', '200', '2e-4', '-1.5e-4', '0.3', '1.5e+6']);
});
