/** What LoRA can carry of each delta: linear modules factored, the rest left out with the reason users read. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorRef } from '../../../src/engine/checkpoint/checkpoint-types';
import type { TensorPair } from '../../../src/engine/jobs/pair-tensors';
import { loraTarget, MAX_LORA_ELEMENTS } from '../../../src/engine/lora/lora-targets';

const pair = (name: string, shape: number[], extra: Partial<TensorPair> = {}): TensorPair => ({
  name, shape, status: 'changed', comparable: true, arithmetic: true, b: { name, dtype: 'BF16', shape } as unknown as TensorRef, ...extra,
});

test('linear modules are factored, experts and routers included; norms, embeddings and the head are left out by default', () => {
  assert.deepEqual(loraTarget(pair('model.layers.3.self_attn.q_proj.weight', [4096, 4096]), 'skip'),
    { factor: true, module: 'model.layers.3.self_attn.q_proj', kind: 'linear', rows: 4096, cols: 4096 });
  assert.equal((loraTarget(pair('model.layers.0.block_sparse_moe.experts.7.w2.weight', [4096, 14336]), 'skip') as { module: string }).module,
    'model.layers.0.block_sparse_moe.experts.7.w2');
  assert.deepEqual(loraTarget(pair('model.layers.0.input_layernorm.weight', [4096]), 'skip'), { factor: false, reason: 'not-a-matrix' });
  assert.deepEqual(loraTarget(pair('model.layers.0.self_attn.q_proj.bias', [4096]), 'skip'), { factor: false, reason: 'not-a-matrix' });
  assert.deepEqual(loraTarget(pair('model.embed_tokens.weight', [32000, 4096]), 'skip'), { factor: false, reason: 'embedding' });
  assert.deepEqual(loraTarget(pair('lm_head.weight', [32000, 4096]), 'skip'), { factor: false, reason: 'embedding' });
  assert.deepEqual(loraTarget(pair('model.layers.0.mlp.up_proj.weight', [8, 8], { arithmetic: false }), 'skip'), { factor: false, reason: 'not-float' });
});

test('--embeddings lora factors the embeddings as PEFT embeddings and the head as a linear module, up to 70B-class vocabularies', () => {
  assert.equal((loraTarget(pair('model.embed_tokens.weight', [128256, 8192]), 'lora') as { kind: string }).kind, 'embedding');
  assert.equal((loraTarget(pair('lm_head.weight', [128256, 8192]), 'lora') as { kind: string }).kind, 'linear');
  assert.ok(128256 * 8192 <= MAX_LORA_ELEMENTS);
  assert.deepEqual(loraTarget(pair('lm_head.weight', [262144, 8192]), 'lora'), { factor: false, reason: 'too-large' });
  const grown = pair('model.embed_tokens.weight', [32008, 4096], { growth: { side: 'a', fromRows: 32000, toRows: 32008 } });
  assert.deepEqual(loraTarget(grown, 'lora'), { factor: false, reason: 'vocabulary-growth' });
});
