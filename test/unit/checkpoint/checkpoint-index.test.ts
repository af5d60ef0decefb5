import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCheckpointIndex } from '../../../src/engine/checkpoint/checkpoint-index';
import { SurgeonError } from '../../../src/engine/errors';

const REAL = join(__dirname, '../../fixtures/real');

test('parses the real Mixtral-8x7B index: 995 tensors in 19 shards', async () => {
  const path = join(REAL, 'sharded-index-files/Mixtral-8x7B-v0.1/model.safetensors.index.json');
  const index = parseCheckpointIndex(await readFile(path, 'utf8'), path);
  assert.equal(index.weightMap.size, 995);
  assert.equal(index.shardNames.length, 19);
  assert.equal(index.shardNames[0], 'model-00001-of-00019.safetensors');
  assert.equal(index.shardNames[18], 'model-00019-of-00019.safetensors');
  assert.equal(index.totalSize, 93405585408);
  assert.equal(index.weightMap.get('lm_head.weight'), 'model-00019-of-00019.safetensors');
});

test('parses the real gemma-2b-it and Mistral-7B indexes', async () => {
  const gemma = join(REAL, 'gemma-2b-it-only/gemma-2b-it/model.safetensors.index.json');
  const gemmaIndex = parseCheckpointIndex(await readFile(gemma, 'utf8'), gemma);
  assert.equal(gemmaIndex.weightMap.size, 164);
  assert.deepEqual(gemmaIndex.shardNames, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  const mistral = join(REAL, 'mistral-7b-v0.1-base-vs-instruct/Mistral-7B-v0.1/model.safetensors.index.json');
  assert.equal(parseCheckpointIndex(await readFile(mistral, 'utf8'), mistral).weightMap.size, 291);
});

function refusal(text: string): SurgeonError {
  try {
    parseCheckpointIndex(text, 'index.json');
  } catch (error) {
    assert.ok(error instanceof SurgeonError, String(error));
    assert.equal(error.file, 'index.json');
    return error;
  }
  assert.fail(`expected ${text} to be refused`);
}

test('refuses shard names that leave the folder', () => {
  for (const shard of ['../model.safetensors', '/etc/passwd', 'sub/model.safetensors', 'sub\\model.safetensors',
    '..', '.', '', 'C:model.safetensors', 'a\u0000b']) {
    const error = refusal(JSON.stringify({ weight_map: { w: shard } }));
    assert.equal(error.rule, 'shard-path', shard);
    assert.equal(error.tensor, 'w');
  }
});

test('refuses malformed indexes', () => {
  assert.equal(refusal('[]').rule, 'index');
  assert.equal(refusal('{"metadata":{}}').rule, 'index');
  assert.equal(refusal('{"weight_map":[]}').rule, 'index');
  assert.equal(refusal('{"weight_map":{"w":1}}').rule, 'index');
  assert.equal(refusal('{"weight_map":{},"metadata":3}').rule, 'index');
  assert.equal(refusal('{"weight_map":{"w":"a.safetensors","w":"b.safetensors"}}').rule, 'duplicate-key');
  assert.equal(refusal('{"weight_map":').rule, 'invalid-json');
});
