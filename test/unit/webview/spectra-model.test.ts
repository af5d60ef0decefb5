import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpectralSummary, TensorReport } from '../../../src/shared/report';
import { OUTSIDE_LAYERS } from '../../../webview/heatmap-model';
import { buildSpectraModel, LOWEST_RANK_ROWS, seriesStyle, SPECTRA_METRICS } from '../../../webview/spectra-model';

function spectra(effectiveRank: number, energy8: number | null, k = 64, provider = 'plain JavaScript'): SpectralSummary {
  return {
    singularValues: Array.from({ length: k }, (_, i) => k - i),
    frobeniusNorm: 1,
    energyAtRank: { 8: energy8, 16: energy8 === null ? null : Math.min(1, energy8 + 0.1), 64: k >= 64 ? 0.99 : null, 256: null },
    effectiveRank,
    provider,
  };
}

function tensor(name: string, layer: number | null, module: string, summary?: SpectralSummary): TensorReport {
  return {
    name, status: 'changed', layer, module, a: { dtype: 'BF16', shape: [64, 128] }, b: { dtype: 'BF16', shape: [64, 128] },
    ...(summary === undefined ? {} : { spectra: summary }),
  };
}

test('no spectra, no model: the section stays hidden', () => {
  assert.equal(buildSpectraModel({ tensors: [tensor('model.norm.weight', null, 'norm'), tensor('x', 0, 'q_proj')] }), null);
  assert.equal(buildSpectraModel({ tensors: [], spectraProvider: 'Spectra on plain JavaScript' }), null);
});

test('layers in numeric order then the matrices outside them; means per layer and module', () => {
  const model = buildSpectraModel({
    spectraProvider: 'Spectra on onnxruntime-node CPU execution provider',
    tensors: [
      tensor('model.layers.10.self_attn.q_proj.weight', 10, 'self_attn.q_proj', spectra(4, 0.5)),
      tensor('model.layers.2.self_attn.q_proj.weight', 2, 'self_attn.q_proj', spectra(20, 0.25)),
      // Two experts of one layer: the point is their mean.
      tensor('model.layers.2.mlp.experts.0.w1.weight', 2, 'mlp.experts.w1', spectra(10, 0.5)),
      tensor('model.layers.2.mlp.experts.1.w1.weight', 2, 'mlp.experts.w1', spectra(30, 0.75)),
      tensor('lm_head.weight', null, 'lm_head', spectra(50, 0.1)),
      tensor('model.layers.3.input_layernorm.weight', 3, 'input_layernorm'),
    ],
  });
  assert.ok(model !== null);
  assert.equal(model.matrices, 5);
  assert.equal(model.provider, 'Spectra on onnxruntime-node CPU execution provider');
  assert.deepEqual(model.layers, ['2', '10', OUTSIDE_LAYERS], 'layer 3 has no matrix with a spectrum');
  assert.deepEqual(model.modules, ['self_attn.q_proj', 'mlp.experts.w1', 'lm_head'], 'architecture order');
  assert.equal(model.maxComputed, 64);
  assert.deepEqual(model.series.effectiveRank.map((line) => [line.module, line.values, line.counts]), [
    ['self_attn.q_proj', [20, 4, null], [1, 1, 0]],
    ['mlp.experts.w1', [20, null, null], [2, 0, 0]],
    ['lm_head', [null, null, 50], [0, 0, 1]],
  ]);
  assert.deepEqual(model.series.energy8.map((line) => line.values), [[0.25, 0.5, null], [0.625, null, null], [null, null, 0.1]]);
  assert.deepEqual(model.energyRanks, [8, 16, 64]);
});

test('metrics without any value (energy beyond the values computed) are not offered', () => {
  const model = buildSpectraModel({ tensors: [tensor('a', 0, 'q', spectra(3, null, 16)), tensor('b', 1, 'q', spectra(5, null, 16))] });
  assert.ok(model !== null);
  assert.deepEqual(model.metrics, ['effectiveRank']);
  assert.deepEqual(model.series.energy64[0]?.values, [null, null]);
  assert.equal(model.maxComputed, 16);
  assert.deepEqual(SPECTRA_METRICS.map((metric) => metric.id), ['effectiveRank', 'energy8', 'energy16', 'energy64', 'energy256']);
});

test('lines follow the architecture (q, k, v, o, gate, up, down, experts), not the order tensors arrive in', () => {
  const modules = ['expert.w2', 'down', 'o', 'q', 'lm_head', 'up', 'k', 'expert.w1', 'gate', 'v', 'router'];
  const model = buildSpectraModel({ tensors: modules.map((module, i) => tensor(`t${i}`, 0, module, spectra(3, 0.5))) });
  assert.deepEqual(model?.modules, ['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'router', 'expert.w1', 'expert.w2', 'lm_head']);
});

test('energy is offered only at ranks the pass computed, whatever small matrices report from their whole spectrum', () => {
  // --spectra-rank 64: a 16 x 1024 matrix has all 16 of its values, so its energy at 256 is 1; the setting was still 64.
  const small: SpectralSummary = { ...spectra(2, 1, 16), energyAtRank: { 8: 0.99, 16: 1, 64: 1, 256: 1 } };
  const model = buildSpectraModel({ tensors: [tensor('a', 0, 'q', spectra(30, 0.4)), tensor('b', 0, 'k', small)] });
  assert.equal(model?.maxComputed, 64);
  assert.deepEqual(model?.metrics, ['effectiveRank', 'energy8', 'energy16', 'energy64']);
  assert.deepEqual(model?.energyRanks, [8, 16, 64]);
  // --spectra-rank 8: the energy at 8 alone.
  const eight: SpectralSummary = { ...spectra(5, 0.9, 8), energyAtRank: { 8: 0.9, 16: null, 64: null, 256: null } };
  assert.deepEqual(buildSpectraModel({ tensors: [tensor('a', 0, 'q', eight)] })?.energyRanks, [8]);
});

test('spectra of rank 256 (--spectra-rank 256) offer the energy at rank 256', () => {
  const ranked: SpectralSummary = { ...spectra(40, 0.3, 256), energyAtRank: { 8: 0.3, 16: 0.4, 64: 0.7, 256: 0.93 } };
  const model = buildSpectraModel({ tensors: [tensor('a', 0, 'q', ranked), tensor('b', 1, 'q', spectra(5, 0.5))] });
  assert.ok(model !== null);
  assert.deepEqual(model.metrics, ['effectiveRank', 'energy8', 'energy16', 'energy64', 'energy256']);
  assert.deepEqual(model.series.energy256[0]?.values, [0.93, null]);
  assert.equal(model.maxComputed, 256);
});

test('the lowest effective ranks come first, ties by name, limited to the row count', () => {
  const tensors = Array.from({ length: LOWEST_RANK_ROWS + 5 }, (_, i) =>
    tensor(`model.layers.${i}.o_proj.weight`, i, 'o_proj', spectra(40 - (i % 7) * 5, 0.3)));
  tensors.push(tensor('<img src=x onerror=alert(1)>', 0, 'o_proj', spectra(1.5, 0.97)));
  const model = buildSpectraModel({ tensors });
  assert.ok(model !== null);
  assert.equal(model.lowest.length, LOWEST_RANK_ROWS);
  assert.deepEqual(model.lowest[0], {
    name: '<img src=x onerror=alert(1)>', layer: '0', module: 'o_proj', shape: [64, 128],
    effectiveRank: 1.5, computed: 64, energy: { 8: 0.97, 16: 1, 64: 0.99, 256: null },
  });
  const ranks = model.lowest.map((row) => row.effectiveRank);
  assert.deepEqual(ranks, [...ranks].sort((x, y) => x - y));
  // Layers 6 and 13 share the lowest rank of the generated ones (40 - 6 * 5 = 10); the name decides.
  assert.deepEqual(model.lowest.slice(1, 3).map((row) => row.name), ['model.layers.13.o_proj.weight', 'model.layers.6.o_proj.weight']);
  assert.equal(buildSpectraModel({ tensors }, 3)?.lowest.length, 3);
});

test('a live run has no provider line yet: the tensors name theirs', () => {
  const model = buildSpectraModel({
    tensors: [tensor('a', 0, 'q', spectra(3, 0.5, 64, 'plain JavaScript')), tensor('b', 0, 'k', spectra(3, 0.5, 64, 'onnxruntime-node CPU execution provider'))],
  });
  assert.equal(model?.provider, 'Spectra on onnxruntime-node CPU execution provider, plain JavaScript');
});

test('every line has its own colour-blind-safe colour (Okabe-Ito), shape and dash', () => {
  const okabeIto = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#000000'];
  for (const light of [false, true]) {
    const styles = Array.from({ length: 28 }, (_, i) => seriesStyle(i, light));
    const firstSeven = styles.slice(0, 7).map((style) => style.colour);
    assert.equal(new Set(firstSeven).size, 7, 'seven distinct colours before any repeats');
    assert.ok(firstSeven.every((colour) => okabeIto.includes(colour)));
    assert.ok(!firstSeven.includes(light ? '#F0E442' : '#000000'), 'no yellow on white, no black on a dark background');
    const keys = styles.map((style) => `${style.colour} ${style.pointStyle} ${style.dash.join(',')}`);
    assert.equal(new Set(keys).size, 28, 'no two of 28 lines look the same');
    assert.deepEqual(styles.slice(0, 7).map((style) => style.dash), Array.from({ length: 7 }, () => []), 'the first seven are solid');
  }
});
