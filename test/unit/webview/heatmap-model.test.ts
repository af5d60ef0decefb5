import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildHeatmapGrid, colourPosition, OUTSIDE_LAYERS } from '../../../webview/heatmap-model';

test('colour follows log10 between the smallest and largest value', () => {
  assert.equal(colourPosition(0.001, 0.001, 0.1), 0);
  assert.equal(colourPosition(0.1, 0.001, 0.1), 1);
  assert.ok(Math.abs((colourPosition(0.01, 0.001, 0.1) ?? NaN) - 0.5) < 1e-12);
  assert.equal(colourPosition(0, 0.001, 0.1), 0);
  assert.equal(colourPosition(null, 0.001, 0.1), null);
  assert.equal(colourPosition(0.5, 0.5, 0.5), 1);
});

test('rows are numbered layers in numeric order, then cells outside the layers', () => {
  const cell = (layer: number | null, module: string, relativeNorm: number | null) => ({ layer, module, relativeNorm, deltaNorm: 1, baseNorm: 1, tensors: 1 });
  const grid = buildHeatmapGrid([cell(10, 'q', 0.01), cell(2, 'q', 0.1), cell(null, 'embed', null), cell(2, 'k', 0)]);
  assert.deepEqual(grid.rows, ['2', '10', OUTSIDE_LAYERS]);
  assert.deepEqual(grid.modules, ['q', 'embed', 'k']);
  assert.equal(grid.min, 0.01);
  assert.equal(grid.max, 0.1);
  assert.deepEqual(grid.points.map((p) => [p.x, p.y, p.t]), [['q', '10', 0], ['q', '2', 1], ['embed', OUTSIDE_LAYERS, null], ['k', '2', 0]]);
});
