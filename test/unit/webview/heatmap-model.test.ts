import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LayerCell } from '../../../src/shared/report';
import { buildHeatmapGrid, colourPosition, firstPoint, legendTicks, moveFocus, OUTSIDE_LAYERS } from '../../../webview/heatmap-model';
import { compareModules } from '../../../webview/module-order';

const cell = (layer: number | null, module: string, relativeNorm: number | null): LayerCell => ({ layer, module, relativeNorm, deltaNorm: 1, baseNorm: 1, tensors: 1 });

test('colour follows log10 between the smallest and largest value', () => {
  assert.equal(colourPosition(0.001, 0.001, 0.1), 0);
  assert.equal(colourPosition(0.1, 0.001, 0.1), 1);
  assert.ok(Math.abs((colourPosition(0.01, 0.001, 0.1) ?? NaN) - 0.5) < 1e-12);
  assert.equal(colourPosition(0, 0.001, 0.1), 0);
  assert.equal(colourPosition(null, 0.001, 0.1), null);
  assert.equal(colourPosition(0.5, 0.5, 0.5), 1);
});

test('rows are numbered layers in numeric order, then cells outside the layers', () => {
  const grid = buildHeatmapGrid([cell(10, 'q', 0.01), cell(2, 'q', 0.1), cell(null, 'embed', null), cell(2, 'k', 0)]);
  assert.deepEqual(grid.rows, ['2', '10', OUTSIDE_LAYERS]);
  assert.deepEqual(grid.modules, ['embed', 'q', 'k']);
  assert.equal(grid.min, 0.01);
  assert.equal(grid.max, 0.1);
  assert.deepEqual(grid.points.map((p) => [p.x, p.y, p.t, p.row, p.column]),
    [['q', '10', 0, 1, 1], ['q', '2', 1, 0, 1], ['embed', OUTSIDE_LAYERS, null, 2, 0], ['k', '2', 0, 0, 2]]);
  assert.deepEqual(grid.at, [[-1, 1, 3], [-1, 0, -1], [2, -1, -1]]);
});

test('columns follow the architecture, not the alphabet: q, k, v, o, gate, up, down, router, experts, norms', () => {
  // The engine's layer cells come sorted by module name (src/shared/report-summary.ts).
  const engineOrder = ['down', 'expert.w1', 'expert.w2', 'expert.w3', 'gate', 'input_norm', 'k', 'o', 'post_attn_norm', 'q', 'router', 'up', 'v'];
  const grid = buildHeatmapGrid(engineOrder.map((module) => cell(0, module, 0.01)));
  assert.deepEqual(grid.modules, ['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'router', 'expert.w1', 'expert.w3', 'expert.w2', 'input_norm', 'post_attn_norm']);
  const outside = ['norm', 'lm_head', 'embed', 'rotary', 'q_norm', 'qkv', 'shared_expert.down', 'shared_expert.gate', 'expert.gate', 'expert.down'].sort();
  assert.deepEqual(outside.sort(compareModules),
    ['embed', 'qkv', 'shared_expert.gate', 'shared_expert.down', 'expert.gate', 'expert.down', 'q_norm', 'norm', 'rotary', 'lm_head']);
  // Other spellings read by their last component (a report from elsewhere).
  assert.deepEqual(['mlp.down_proj', 'self_attn.o_proj', 'block_sparse_moe.experts.w1', 'self_attn.q_proj', 'input_layernorm', 'block_sparse_moe.gate', 'mlp.up_proj'].sort(compareModules),
    ['self_attn.q_proj', 'self_attn.o_proj', 'mlp.up_proj', 'mlp.down_proj', 'block_sparse_moe.gate', 'block_sparse_moe.experts.w1', 'input_layernorm']);
});

test('the keyboard moves between cells, skipping gaps, and stays put at the edges', () => {
  // Layers 0 and 1 have q, k, v; the embedding and the head sit on the `other` row only.
  const cells = [0, 1].flatMap((layer) => ['q', 'k', 'v'].map((module) => cell(layer, module, 0.01)));
  cells.push(cell(null, 'embed', 0.02), cell(null, 'lm_head', 0.03));
  const grid = buildHeatmapGrid(cells);
  assert.deepEqual(grid.modules, ['embed', 'q', 'k', 'v', 'lm_head']);
  const name = (index: number | undefined): string => {
    const point = index === undefined ? undefined : grid.points[index];
    return point === undefined ? String(index) : `${point.y}:${point.x}`;
  };
  const start = firstPoint(grid);
  assert.equal(name(start), '0:q', 'the focus starts at the top left cell');
  const path = (from: number, keys: string[]): string[] => {
    const visited: string[] = [];
    let at = from;
    for (const key of keys) {
      at = moveFocus(grid, at, key) ?? at;
      visited.push(name(at));
    }
    return visited;
  };
  assert.deepEqual(path(start, ['ArrowLeft', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowDown', 'ArrowDown', 'ArrowUp']),
    ['0:q', '0:k', '0:v', '0:v', '1:v', '1:v', '0:v'], 'no cell left of q in layer 0, none right of v, none below v in layer 1');
  assert.deepEqual(path(start, ['ArrowDown', 'ArrowDown']), ['1:q', '1:q']);
  const embed = grid.points.findIndex((point) => point.x === 'embed');
  assert.deepEqual(path(embed, ['ArrowRight', 'ArrowUp', 'End', 'Home']), ['other:lm_head', 'other:lm_head', 'other:lm_head', 'other:embed'],
    'from the head, up finds no cell in its column');
  assert.equal(name(moveFocus(grid, start, 'End', true)), 'other:lm_head', 'Ctrl+End: the last cell');
  assert.equal(name(moveFocus(grid, embed, 'Home', true)), '0:q', 'Ctrl+Home: the first cell');
  assert.equal(moveFocus(grid, start, 'a'), undefined, 'other keys are not the heatmap\'s');
});

test('PageDown and PageUp move eight layers in the column', () => {
  const grid = buildHeatmapGrid(Array.from({ length: 20 }, (_, layer) => cell(layer, 'q', 0.01)));
  const layerOf = (index: number | undefined): string | undefined => (index === undefined ? undefined : grid.points[index]?.y);
  assert.equal(layerOf(moveFocus(grid, 0, 'PageDown')), '8');
  assert.equal(layerOf(moveFocus(grid, 16, 'PageDown')), '19');
  assert.equal(layerOf(moveFocus(grid, 19, 'PageDown')), '19');
  assert.equal(layerOf(moveFocus(grid, 10, 'PageUp')), '2');
  assert.equal(layerOf(moveFocus(grid, 3, 'PageUp')), '0');
});

test('the legend labels its ends and round values (1, 5, 2 x 10^k) between them, on the log scale, without overlaps', () => {
  const ticks = legendTicks(0.00139, 0.08161);
  assert.equal(ticks[0]?.value, 0.00139);
  assert.equal(ticks.at(-1)?.value, 0.08161);
  // 0.002 and 0.05 would sit on the ends' labels.
  assert.deepEqual(ticks.slice(1, -1).map((tick) => tick.value), [0.005, 0.01, 0.02]);
  for (const tick of ticks) assert.ok(Math.abs(tick.position - (colourPosition(tick.value, 0.00139, 0.08161) ?? NaN)) < 1e-12);
  assert.deepEqual(legendTicks(0.5, 0.5), [{ value: 0.5, position: 0 }], 'one value: one label');
  // Six decades: the powers of ten only, each a sixth of the bar apart.
  assert.deepEqual(legendTicks(1e-6, 1).slice(1, -1).map((tick) => tick.value), [1e-5, 1e-4, 0.001, 0.01, 0.1]);
  const positions = legendTicks(1.3e-7, 0.9).map((tick) => tick.position);
  for (let i = 1; i < positions.length; i++) assert.ok(positions[i]! - positions[i - 1]! >= 0.15, `labels apart: ${positions.join(', ')}`);
});
