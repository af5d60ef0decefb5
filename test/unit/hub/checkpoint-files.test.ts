import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { planCheckpointFiles, shardNamesOfIndex } from '../../../src/engine/hub/checkpoint-files';
import { makeIndex } from '../../helpers/hub-test-files';

const listing = (...paths: string[]) => paths.map((path) => ({ path, size: 1 }));

test('an index decides the weights; side files are the ones the repo has', () => {
  const plan = planCheckpointFiles(listing(
    'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'consolidated.safetensors',
    'config.json', 'tokenizer.json', 'tokenizer.model', 'README.md', 'original/params.json',
  ), 'org/x');
  assert.deepEqual(plan, { weights: [], index: 'model.safetensors.index.json', sideFiles: ['config.json', 'tokenizer.json', 'tokenizer.model'] });
});

test('model.safetensors wins over other single files; otherwise every top-level safetensors file', () => {
  assert.deepEqual(planCheckpointFiles(listing('model.safetensors', 'adapter.safetensors', 'pytorch_model.bin'), 'org/x').weights, ['model.safetensors']);
  assert.deepEqual(planCheckpointFiles(listing('pytorch_model.safetensors', 'sub/model.safetensors', 'merges.txt'), 'org/x'), {
    weights: ['pytorch_model.safetensors'], sideFiles: ['merges.txt'],
  });
});

test('pickle-only and weightless repos are refused with the rule hub', () => {
  assert.throws(() => planCheckpointFiles(listing('pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin', 'config.json'), 'org/old'),
    (error: unknown) => isSurgeonError(error) && error.rule === 'hub' && /only pickle weights \(pytorch_model-00001-of-00002\.bin, pytorch_model-00002-of-00002\.bin\)/.test(error.message));
  assert.throws(() => planCheckpointFiles(listing('config.json', 'model.gguf'), 'org/gguf'),
    (error: unknown) => isSurgeonError(error) && error.rule === 'hub' && /no \.safetensors weights/.test(error.message));
});

test('shard names come from weight_map, each once, and must be plain file names', () => {
  const shards = ['model-00002-of-00002.safetensors', 'model-00001-of-00002.safetensors', 'model-00001-of-00002.safetensors'];
  assert.deepEqual(shardNamesOfIndex(makeIndex(shards), 'index.json'), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  for (const bad of ['../secret.safetensors', 'sub/model.safetensors', 'C:\\model.safetensors', '..', '']) {
    assert.throws(() => shardNamesOfIndex(makeIndex([bad]), 'index.json'),
      (error: unknown) => isSurgeonError(error) && error.rule === 'shard-path' && error.tensor === 'layers.0.weight', bad);
  }
  assert.throws(() => shardNamesOfIndex('{"weight_map": []}', 'index.json'), (error: unknown) => isSurgeonError(error) && error.rule === 'index');
  assert.throws(() => shardNamesOfIndex('not json', 'index.json'), (error: unknown) => isSurgeonError(error) && error.rule === 'index');
});
