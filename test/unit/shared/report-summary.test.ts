import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDiffReport } from '../../../src/engine/jobs/diff-report';
import { emptyStatusCounts, TENSOR_STATUSES, type TensorReport } from '../../../src/shared/report';
import { layerCells, summarizeTensors } from '../../../src/shared/report-summary';
import { ReportStore } from '../../../webview/report-store';

const tensors: TensorReport[] = [
  { name: 'l0.q', status: 'changed', layer: 0, module: 'q', elements: 100, deltaNorm: 3, baseNorm: 30, relativeNorm: 0.1, zeroFraction: 0.25 },
  { name: 'l0.q2', status: 'changed', layer: 0, module: 'q', elements: 100, deltaNorm: 4, baseNorm: 40, relativeNorm: 0.1, zeroFraction: 0 },
  { name: 'l1.q', status: 'unchanged', layer: 1, module: 'q', elements: 50, deltaNorm: 0, baseNorm: 0, relativeNorm: null, zeroFraction: 1 },
  { name: 'embed', status: 'shape-mismatch', layer: null, module: 'embed_tokens' },
];

test('counts statuses and adds norms in squares', () => {
  const summary = summarizeTensors(tensors);
  assert.deepEqual(summary.counts, { changed: 2, unchanged: 1, 'shape-mismatch': 1, 'dtype-mismatch': 0, 'only-in-a': 0, 'only-in-b': 0 });
  assert.equal(summary.parametersCompared, 250);
  // Every element of a changed tensor counts, whatever share of them kept its value.
  assert.equal(summary.parametersChanged, 100 + 100);
  assert.equal(summary.globalRelativeNorm, 5 / 50);
  assert.deepEqual(summary.mostChanged.map((m) => m.name), ['l0.q', 'l0.q2']);
});

test('no base norm gives no relative norm', () => {
  assert.equal(summarizeTensors([tensors[2]!]).globalRelativeNorm, null);
});

test('groups tensors into layer x module cells', () => {
  const cells = layerCells(tensors);
  assert.equal(cells.length, 2);
  const first = cells.find((cell) => cell.layer === 0);
  assert.deepEqual(first, { layer: 0, module: 'q', deltaNorm: 5, baseNorm: 50, relativeNorm: 0.1, tensors: 2 });
  assert.equal(cells.find((cell) => cell.layer === 1)?.relativeNorm, null);
});

test('a summary of no tensors counts zero of every status', () => {
  const summary = summarizeTensors([]);
  assert.deepEqual(summary.counts, emptyStatusCounts());
  assert.deepEqual(Object.keys(summary.counts), [...TENSOR_STATUSES]);
  assert.deepEqual(
    { ...summary, counts: undefined },
    { counts: undefined, parametersChanged: 0, parametersCompared: 0, globalRelativeNorm: null, mostChanged: [] },
  );
  assert.deepEqual(layerCells([]), []);
});

test('the live view and the final report agree on the same tensors', () => {
  // Two changed tensors with 70% of their elements unchanged, and an unchanged one: the live view
  // once counted 600 parameters changed here where the final report counted 2000.
  const three: TensorReport[] = [
    { name: 'model.layers.1.mlp.up_proj.weight', status: 'changed', layer: 1, module: 'up_proj', elements: 1000, deltaNorm: 2, baseNorm: 20, relativeNorm: 0.1, zeroFraction: 0.7 },
    { name: 'model.layers.0.self_attn.q_proj.weight', status: 'changed', layer: 0, module: 'q_proj', elements: 1000, deltaNorm: 1, baseNorm: 40, relativeNorm: 0.025, zeroFraction: 0.7 },
    { name: 'model.norm.weight', status: 'unchanged', layer: null, module: 'norm', elements: 64, deltaNorm: 0, baseNorm: 8, relativeNorm: 0, zeroFraction: 1 },
  ];
  const final = buildDiffReport('/a', '/b', three, { config: null, tokenizer: null });
  const store = new ReportStore();
  store.beginLive({ type: 'begin', a: { path: '/a' }, b: { path: '/b' }, tensorsTotal: three.length });
  // Tensors arrive in batches, in another order than the final report's, one of them twice.
  store.addTensors([three[2]!]);
  store.addTensors([three[0]!, three[2]!]);
  store.addTensors([three[1]!]);
  const live = store.report!;
  assert.equal(final.summary.parametersChanged, 2000);
  assert.deepEqual(live.summary, final.summary);
  assert.deepEqual(live.layers, final.layers);
});
