import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorReport } from '../../../src/shared/report';
import { layerCellsOf, summarizeTensors } from '../../../webview/live-summary';

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
  assert.equal(summary.parametersChanged, 75 + 100);
  assert.equal(summary.globalRelativeNorm, 5 / 50);
  assert.deepEqual(summary.mostChanged.map((m) => m.name), ['l0.q', 'l0.q2']);
});

test('no base norm gives no relative norm', () => {
  assert.equal(summarizeTensors([tensors[2]!]).globalRelativeNorm, null);
});

test('groups tensors into layer x module cells', () => {
  const cells = layerCellsOf(tensors);
  assert.equal(cells.length, 2);
  const first = cells.find((cell) => cell.layer === 0);
  assert.deepEqual(first, { layer: 0, module: 'q', deltaNorm: 5, baseNorm: 50, relativeNorm: 0.1, tensors: 2 });
  assert.equal(cells.find((cell) => cell.layer === 1)?.relativeNorm, null);
});
