import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorReport } from '../../../src/shared/report';
import { queryTensors } from '../../../webview/table-model';

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
