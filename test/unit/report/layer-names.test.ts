import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseTensorName } from '../../../src/engine/report/layer-names';

const REAL = join(__dirname, '../../fixtures/real');

async function indexNames(path: string): Promise<string[]> {
  const index = JSON.parse(await readFile(join(REAL, path), 'utf8')) as { weight_map: Record<string, string> };
  return Object.keys(index.weight_map);
}

/** Counts tensors per module and collects the layer indexes seen. */
function tally(names: string[]): { modules: Map<string, number>; layers: Set<number | null> } {
  const modules = new Map<string, number>();
  const layers = new Set<number | null>();
  for (const name of names) {
    const { layer, module } = parseTensorName(name);
    modules.set(module, (modules.get(module) ?? 0) + 1);
    layers.add(layer);
  }
  return { modules, layers };
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

const DENSE_BLOCK = ['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'input_norm', 'post_attn_norm'];

describe('parseTensorName on real index files', () => {
  it('Mistral-7B-v0.1: 32 dense blocks plus embed, final norm and lm_head', async () => {
    const { modules, layers } = tally(await indexNames('mistral-7b-v0.1-base-vs-instruct/Mistral-7B-v0.1/model.safetensors.index.json'));
    assert.deepEqual([...modules.keys()].sort(), [...DENSE_BLOCK, 'embed', 'lm_head', 'norm'].sort());
    for (const module of DENSE_BLOCK) assert.equal(modules.get(module), 32, module);
    assert.deepEqual([...layers].sort((x, y) => (x ?? -1) - (y ?? -1)), [null, ...range(32)]);
    assert.deepEqual(parseTensorName('model.embed_tokens.weight'), { layer: null, module: 'embed' });
    assert.deepEqual(parseTensorName('lm_head.weight'), { layer: null, module: 'lm_head' });
    assert.deepEqual(parseTensorName('model.norm.weight'), { layer: null, module: 'norm' });
  });

  it('Llama-3.2-3B-Instruct: 28 blocks and no lm_head (tied embeddings)', async () => {
    const { modules } = tally(await indexNames('llama-3-family-instruct-only/Llama-3.2-3B-Instruct/model.safetensors.index.json'));
    assert.deepEqual([...modules.keys()].sort(), [...DENSE_BLOCK, 'embed', 'norm'].sort());
    for (const module of DENSE_BLOCK) assert.equal(modules.get(module), 28, module);
  });

  it('gemma-2b-it: 18 blocks', async () => {
    const { modules } = tally(await indexNames('gemma-2b-it-only/gemma-2b-it/model.safetensors.index.json'));
    for (const module of DENSE_BLOCK) assert.equal(modules.get(module), 18, module);
    assert.equal(modules.get('embed'), 1);
  });

  it('Mixtral-8x7B-v0.1: experts aggregate into expert.w1/w2/w3 and the gate is the router', async () => {
    const names = await indexNames('sharded-index-files/Mixtral-8x7B-v0.1/model.safetensors.index.json');
    const { modules, layers } = tally(names);
    assert.deepEqual([...modules.keys()].sort(), [
      'embed', 'expert.w1', 'expert.w2', 'expert.w3', 'input_norm', 'k', 'lm_head', 'norm', 'o', 'post_attn_norm', 'q', 'router', 'v',
    ]);
    for (const module of ['expert.w1', 'expert.w2', 'expert.w3']) assert.equal(modules.get(module), 32 * 8, module);
    assert.equal(modules.get('router'), 32);
    assert.equal(layers.size, 33);
    assert.deepEqual(parseTensorName('model.layers.17.block_sparse_moe.experts.5.w2.weight'), { layer: 17, module: 'expert.w2' });
    assert.deepEqual(parseTensorName('model.layers.3.block_sparse_moe.gate.weight'), { layer: 3, module: 'router' });
  });

  it('MiniCPM3 (multi-head latent attention), names from the ollama test checkpoint header', () => {
    // The tensor names of ollama's convert/testdata/minicpm3-4b/model.safetensors (one block).
    const cases: Array<[string, string]> = [
      ['model.layers.0.self_attn.q_a_proj.weight', 'q_a'],
      ['model.layers.0.self_attn.q_a_layernorm.weight', 'q_a_norm'],
      ['model.layers.0.self_attn.q_b_proj.weight', 'q_b'],
      ['model.layers.0.self_attn.kv_a_proj_with_mqa.weight', 'kv_a'],
      ['model.layers.0.self_attn.kv_a_layernorm.weight', 'kv_a_norm'],
      ['model.layers.0.self_attn.kv_b_proj.weight', 'kv_b'],
      ['model.layers.0.self_attn.o_proj.weight', 'o'],
      ['model.layers.0.mlp.gate_proj.weight', 'gate'],
      ['model.layers.0.input_layernorm.weight', 'input_norm'],
    ];
    for (const [name, module] of cases) assert.deepEqual(parseTensorName(name), { layer: 0, module }, name);
  });
});

describe('parseTensorName on other architectures', () => {
  const cases: Array<[string, number | null, string]> = [
    // Phi-2
    ['model.layers.4.self_attn.dense.weight', 4, 'o'],
    ['model.layers.4.mlp.fc1.bias', 4, 'up'],
    ['model.layers.4.mlp.fc2.weight', 4, 'down'],
    ['model.final_layernorm.weight', null, 'norm'],
    // Phi-3
    ['model.layers.9.self_attn.qkv_proj.weight', 9, 'qkv'],
    ['model.layers.9.mlp.gate_up_proj.weight', 9, 'gate_up'],
    // Qwen2 (biased q/k/v)
    ['model.layers.2.self_attn.q_proj.bias', 2, 'q'],
    // GPT-2
    ['transformer.h.11.attn.c_attn.weight', 11, 'qkv'],
    ['transformer.h.11.attn.c_proj.weight', 11, 'o'],
    ['transformer.h.11.mlp.c_fc.weight', 11, 'up'],
    ['transformer.h.11.mlp.c_proj.bias', 11, 'down'],
    ['transformer.h.11.ln_1.weight', 11, 'input_norm'],
    ['h.0.attn.bias', 0, 'attn_mask'],
    ['transformer.wte.weight', null, 'embed'],
    ['transformer.wpe.weight', null, 'pos_embed'],
    ['transformer.ln_f.weight', null, 'norm'],
    // GPT-NeoX
    ['gpt_neox.layers.5.attention.query_key_value.weight', 5, 'qkv'],
    ['gpt_neox.layers.5.attention.dense.weight', 5, 'o'],
    ['gpt_neox.layers.5.mlp.dense_h_to_4h.weight', 5, 'up'],
    ['gpt_neox.layers.5.mlp.dense_4h_to_h.weight', 5, 'down'],
    ['gpt_neox.embed_in.weight', null, 'embed'],
    ['embed_out.weight', null, 'lm_head'],
    ['gpt_neox.final_layer_norm.weight', null, 'norm'],
    // Meta's original Llama layout
    ['layers.7.attention.wq.weight', 7, 'q'],
    ['layers.7.feed_forward.w1.weight', 7, 'gate'],
    ['layers.7.feed_forward.w3.weight', 7, 'up'],
    ['layers.7.feed_forward.w2.weight', 7, 'down'],
    ['layers.7.ffn_norm.weight', 7, 'post_attn_norm'],
    ['tok_embeddings.weight', null, 'embed'],
    ['output.weight', null, 'lm_head'],
    // Qwen2-MoE
    ['model.layers.1.mlp.experts.59.gate_proj.weight', 1, 'expert.gate'],
    ['model.layers.1.mlp.shared_expert.down_proj.weight', 1, 'shared_expert.down'],
    ['model.layers.1.mlp.gate.weight', 1, 'router'],
    // Generic fallback: first integer is the layer, last meaningful part the module.
    ['vision_tower.encoder.blocks.3.attn_scale_thing.weight', 3, 'attn_scale_thing'],
    ['model.rotary_emb.inv_freq', null, 'inv_freq'],
  ];
  for (const [name, layer, module] of cases) {
    it(name, () => assert.deepEqual(parseTensorName(name), { layer, module }));
  }
});
