import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { describeProgress, formatDuration, percentOf, ProgressMeter } from '../../../src/extension/progress-format';
import type { JobProgress } from '../../../src/shared/jobs';

const progress = (bytesDone: number, phase: JobProgress['phase'] = 'stream'): JobProgress =>
  ({ phase, bytesDone, bytesTotal: 10_000_000_000, tensorsDone: 3, tensorsTotal: 10 });

test('durations in words', () => {
  assert.equal(formatDuration(42), '42s');
  assert.equal(formatDuration(125), '2m 05s');
  assert.equal(formatDuration(7_260), '2h 01m');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '?');
});

test('percent comes from bytes, else from tensors', () => {
  assert.equal(percentOf(progress(2_500_000_000)), 25);
  assert.equal(percentOf({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 1, tensorsTotal: 4 }), 25);
  assert.equal(percentOf({ phase: 'plan', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 }), 0);
});

test('the meter measures the rate between samples and derives the ETA from it', () => {
  let now = 0;
  const meter = new ProgressMeter(() => now);
  assert.equal(meter.update(progress(0)), '0% · 3/10 tensors · 0 B of 10.0 GB');
  now = 1_000;
  // 1 GB in one second leaves 9 GB: nine seconds.
  assert.equal(meter.update(progress(1_000_000_000)), '10% · 3/10 tensors · 1.00 GB of 10.0 GB · 1.00 GB/s · ETA 9s');
  now = 1_100;
  // Samples closer than the rate window keep the previous rate.
  assert.match(meter.update(progress(1_500_000_000)), /1\.00 GB\/s · ETA 9s$/);
});

test('no rate or ETA outside the streaming phase', () => {
  assert.equal(describeProgress(progress(0, 'plan'), 5e8), '0% · planning · 3/10 tensors · 0 B of 10.0 GB');
});

test('the spectral pass is a phase of its own: its rate starts over and its ETA follows its own bytes', () => {
  let now = 0;
  const meter = new ProgressMeter(() => now);
  meter.update(progress(0));
  now = 1_000;
  meter.update(progress(10_000_000_000));
  const spectra = (bytesDone: number): JobProgress => ({ phase: 'spectra', bytesDone, bytesTotal: 400_000_000, tensorsDone: 1, tensorsTotal: 4 });
  now = 1_100;
  // The stream's 10 GB/s says nothing about the spectra.
  assert.equal(meter.update(spectra(0)), '0% · spectra · 1/4 tensors · 0 B of 400 MB');
  now = 3_100;
  // 100 MB in two seconds leaves 300 MB: six seconds.
  assert.equal(meter.update(spectra(100_000_000)), '25% · spectra · 1/4 tensors · 100 MB of 400 MB · 50.0 MB/s · ETA 6s');
});
