import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpectralSummary, TensorReport } from '../../../src/shared/report';
import { buildEnergyModel, capturedEnergy, defaultPickedRank, energyAtRank, parsePickedRank, rankTicks } from '../../../webview/energy-model';
import { buildSpectraModel } from '../../../webview/spectra-model';

function spectra(singularValues: number[], frobeniusNorm: number): SpectralSummary {
  return { singularValues, frobeniusNorm, energyAtRank: { 8: null, 16: null, 64: null, 256: null }, effectiveRank: 1, provider: 'plain JavaScript' };
}

function tensor(name: string, layer: number | null, module: string, summary?: SpectralSummary): TensorReport {
  return { name, status: 'changed', layer, module, ...(summary === undefined ? {} : { spectra: summary }) };
}

function close(actual: ReadonlyArray<number | null>, expected: readonly number[], message?: string): void {
  assert.equal(actual.length, expected.length, message);
  for (const [i, value] of expected.entries()) {
    assert.ok(actual[i] !== null && Math.abs(actual[i]! - value) < 1e-12, `${message ?? ''} [${i}]: ${actual[i]} vs ${value}`);
  }
}

test('the energy at rank r is the share of the squared norm in the r largest singular values, carried on past the values computed', () => {
  // ‖Δ‖² = 9 + 4 + 1 = 14: the whole spectrum of a 3-wide matrix.
  close(capturedEnergy(spectra([3, 2, 1], Math.sqrt(14)), 5)!, [9 / 14, 13 / 14, 1, 1, 1]);
  // Only the leading values of a wider matrix: the rest of its energy is not carried at rank 2.
  close(capturedEnergy(spectra([3, 2], 5), 2)!, [9 / 25, 13 / 25]);
  assert.equal(capturedEnergy(spectra([], 0), 4), null, 'a zero delta has no share to give');
  // The randomized SVD's values may sum a hair past the norm: a share never passes 100%.
  close(capturedEnergy(spectra([1.0000001], 1), 1)!, [1]);
});

test('per module: the mean over the layers of each layer\'s mean, in the spectra chart\'s module order', () => {
  const tensors = [
    tensor('model.layers.0.mlp.down_proj.weight', 0, 'down', spectra([1, 1], Math.sqrt(2))),
    tensor('model.layers.0.self_attn.q_proj.weight', 0, 'q', spectra([2, 0], 2)),
    tensor('model.layers.1.self_attn.q_proj.weight', 1, 'q', spectra([1, 1], 2)),
    // Two experts in layer 0 and one in layer 1: layer 0 counts once, as the mean of its experts.
    tensor('model.layers.0.mlp.experts.0.w1.weight', 0, 'expert.gate', spectra([1], 1)),
    tensor('model.layers.0.mlp.experts.1.w1.weight', 0, 'expert.gate', spectra([1], 2)),
    tensor('model.layers.1.mlp.experts.0.w1.weight', 1, 'expert.gate', spectra([0], 1)),
    // A zero delta: its module keeps its place (and colour), with no values.
    tensor('model.layers.0.self_attn.k_proj.weight', 0, 'k', spectra([0, 0], 0)),
    tensor('model.norm.weight', null, 'norm'),
  ];
  const model = buildEnergyModel(tensors);
  assert.ok(model !== null);
  assert.equal(model.maxComputed, 2);
  assert.deepEqual(model.curves.map((curve) => curve.module), buildSpectraModel({ tensors })!.modules, 'the same modules, in the same order');
  assert.deepEqual(model.curves.map((curve) => curve.module), ['q', 'k', 'down', 'expert.gate']);
  const curve = (module: string) => model.curves.find((c) => c.module === module)!;
  // q: layer 0 carries 100% at rank 1, layer 1 25% then 50%.
  close(curve('q').shares, [(1 + 0.25) / 2, (1 + 0.5) / 2]);
  assert.deepEqual([curve('q').layers, curve('q').matrices], [2, 2]);
  close(curve('down').shares, [0.5, 1]);
  // expert.gate: layer 0 is the mean of 100% and 25%, layer 1 0%; its one value is carried on to rank 2.
  close(curve('expert.gate').shares, [(0.625 + 0) / 2, (0.625 + 0) / 2]);
  assert.deepEqual([curve('expert.gate').layers, curve('expert.gate').matrices], [2, 3]);
  assert.deepEqual(curve('k').shares, [null, null]);
  const atTwo = energyAtRank(model, 2);
  assert.deepEqual(atTwo.map((row) => row.module), ['q', 'k', 'down', 'expert.gate']);
  assert.equal(atTwo[1]!.share, null);
  close([atTwo[0]!.share, atTwo[2]!.share, atTwo[3]!.share], [0.75, 1, 0.3125]);
});

test('no spectra, no chart', () => {
  assert.equal(buildEnergyModel([tensor('model.norm.weight', null, 'norm')]), null);
  assert.equal(buildEnergyModel([]), null);
});

test('the picker starts at the export\'s default rank, or the largest computed where that is smaller, and takes whole ranks in range', () => {
  assert.equal(defaultPickedRank(256), 64);
  assert.equal(defaultPickedRank(64), 64);
  assert.equal(defaultPickedRank(16), 16);
  assert.equal(parsePickedRank('16', 64), 16);
  assert.equal(parsePickedRank(' 64 ', 64), 64);
  for (const text of ['', '0', '65', '1.5', '-3', 'x', '1e1']) assert.equal(parsePickedRank(text, 64), null, text);
});

test('the rank axis: 1, then multiples of a power of two, and the last rank', () => {
  assert.deepEqual(rankTicks(64), [1, 8, 16, 24, 32, 40, 48, 56, 64]);
  assert.deepEqual(rankTicks(256), [1, 32, 64, 96, 128, 160, 192, 224, 256]);
  assert.deepEqual(rankTicks(20), [1, 4, 8, 12, 16, 20]);
  assert.deepEqual(rankTicks(70), [1, 16, 32, 48, 70], 'no 64 crowding the last label');
  assert.deepEqual(rankTicks(1), [1]);
  assert.deepEqual(rankTicks(5), [1, 2, 3, 4, 5]);
});
