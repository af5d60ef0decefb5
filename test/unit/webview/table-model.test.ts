import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorReport } from '../../../src/shared/report';
import { columnFormats, describeFilter, exportScope, histogramTensor, queryTensors } from '../../../webview/table-model';

function tensor(name: string, relativeNorm: number | undefined, status: TensorReport['status'] = 'changed', layer: number | null = 0, module = 'mlp'): TensorReport {
  return { name, status, layer, module, ...(relativeNorm === undefined ? {} : { relativeNorm }) };
}

const tensors = [
  tensor('model.layers.10.mlp.up_proj.weight', 0.3),
  tensor('model.layers.2.mlp.up_proj.weight', 0.1),
  tensor('model.layers.2.self_attn.q_proj.weight', 0.1, 'changed', 2, 'self_attn.q_proj'),
  tensor('model.embed_tokens.weight', undefined, 'shape-mismatch', null, 'embed_tokens'),
  tensor('lm_head.weight', 0.5, 'changed', null, 'lm_head'),
];

test('sorts numbers descending with absent values last and ties by name', () => {
  const rows = queryTensors(tensors, { sort: { key: 'relativeNorm', descending: true }, filter: '', statuses: [] });
  assert.deepEqual(rows.map((t) => t.name), [
    'lm_head.weight', 'model.layers.10.mlp.up_proj.weight',
    'model.layers.2.mlp.up_proj.weight', 'model.layers.2.self_attn.q_proj.weight', 'model.embed_tokens.weight',
  ]);
});

test('absent values stay last when sorting ascending', () => {
  const rows = queryTensors(tensors, { sort: { key: 'relativeNorm', descending: false }, filter: '', statuses: [] });
  assert.equal(rows.at(-1)?.name, 'model.embed_tokens.weight');
  assert.equal(rows[0]?.name, 'model.layers.2.mlp.up_proj.weight');
});

test('names sort with numbers in numeric order (layer 2 before layer 10)', () => {
  const rows = queryTensors(tensors, { sort: { key: 'name', descending: false }, filter: 'up_proj', statuses: [] });
  assert.deepEqual(rows.map((t) => t.name), ['model.layers.2.mlp.up_proj.weight', 'model.layers.10.mlp.up_proj.weight']);
});

test('filter terms must all match, case-insensitively; statuses and cells narrow further', () => {
  const query = { sort: { key: 'name' as const, descending: false }, statuses: [] as string[] };
  assert.deepEqual(queryTensors(tensors, { ...query, filter: 'LAYERS.2  Q_PROJ' }).map((t) => t.name), ['model.layers.2.self_attn.q_proj.weight']);
  assert.deepEqual(queryTensors(tensors, { ...query, filter: '', statuses: ['shape-mismatch'] }).map((t) => t.name), ['model.embed_tokens.weight']);
  assert.deepEqual(queryTensors(tensors, { ...query, filter: '', cell: { layer: null, module: 'lm_head' } }).map((t) => t.name), ['lm_head.weight']);
  assert.equal(queryTensors(tensors, { ...query, filter: 'nothing-matches' }).length, 0);
});

test('the filter in words: statuses, the heatmap cell and the name terms; null when every tensor shows', () => {
  assert.equal(describeFilter({ filter: '', statuses: [] }), null);
  assert.equal(describeFilter({ filter: '  ', statuses: [], cell: null }), null);
  assert.equal(describeFilter({ filter: 'up_proj layers.2', statuses: ['shape-mismatch'], cell: { layer: 3, module: 'q' } }),
    'status shape-mismatch; layer 3, q; name contains "up_proj" and "layers.2"');
  assert.equal(describeFilter({ filter: '', statuses: [], cell: { layer: null, module: 'lm\u202Ehead' } }), 'layer other, lm⟨U+202E⟩head');
});

test('the histogram shows the selected tensor while the table lists it, else the first row', () => {
  const rows = queryTensors(tensors, { sort: { key: 'name', descending: false }, filter: '', statuses: [], cell: { layer: null, module: 'lm_head' } });
  assert.equal(histogramTensor(rows, 'model.layers.2.mlp.up_proj.weight')?.name, 'lm_head.weight', 'a heatmap cell that leaves the selection out');
  assert.equal(histogramTensor(tensors, 'model.layers.2.mlp.up_proj.weight')?.name, 'model.layers.2.mlp.up_proj.weight');
  assert.equal(histogramTensor(tensors, null)?.name, tensors[0]?.name);
  assert.equal(histogramTensor([], 'x'), null);
});

test('CSV export says which rows it writes: all of them, or those a filter left', () => {
  assert.deepEqual(exportScope(5000, 5000, null), { label: 'Export CSV', rows: 'all 5,000 tensors', suggestedName: 'diff-tensors.csv' });
  assert.deepEqual(exportScope(39, 39, 'name contains "q"'), { label: 'Export CSV', rows: 'all 39 tensors', suggestedName: 'diff-tensors.csv' });
  assert.deepEqual(exportScope(1, 39, 'status only-in-b'), {
    label: 'Export CSV (1 of 39 rows)', rows: '1 of 39 tensors, as the table is filtered (status only-in-b)', suggestedName: 'diff-tensors-filtered.csv',
  });
});

test('each numeric column has one format for all its rows', () => {
  const formats = columnFormats([
    { name: 'a', status: 'changed', layer: 0, module: 'q', deltaNorm: 0.00216, relativeNorm: 0.5, cosine: 1, maxAbsDelta: 4.051e-4, zeroFraction: 0.0144 },
    { name: 'b', status: 'changed', layer: 0, module: 'k', deltaNorm: 12.5, relativeNorm: 0.0812, cosine: 0.99999, maxAbsDelta: 0.25, zeroFraction: 1 },
    { name: 'c', status: 'unchanged', layer: 0, module: 'v', deltaNorm: 0, relativeNorm: 0, cosine: 1, maxAbsDelta: 0, zeroFraction: 1 },
    { name: 'd', status: 'only-in-b', layer: null, module: 'score' },
  ]);
  assert.deepEqual([0.00216, 12.5, 0, undefined].map(formats.deltaNorm), ['0.002160', '12.50', '0', '—'], 'fixed, four significant digits');
  assert.deepEqual([4.051e-4, 0.25].map(formats.maxAbsDelta), ['4.051e-4', '2.500e-1'], 'one value below 1e-3: the whole column in exponent form');
  assert.deepEqual([1, 0.99999].map(formats.cosine), ['1.000', '1.000']);
  assert.deepEqual([0.0144, 1, 0].map(formats.zeroFraction), ['1.44%', '100.00%', '0.00%']);
});
