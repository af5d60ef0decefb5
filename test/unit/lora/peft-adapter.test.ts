/**
 * PEFT's names and scalings as apply reads them: which tensor of an adapter is what, and how rank_pattern,
 * alpha_pattern and use_rslora resolve for a module (peft's `re.match(rf"(.*\.)?({key})$", module)`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adapterTensorRole, moduleScaling, patternValue, weightOfModule, type AdapterConfig } from '../../../src/engine/lora/peft-adapter';

const Q = 'model.layers.0.self_attn.q_proj';

describe('PEFT adapter names and scalings', () => {
  it('tells factors of linear and embedding modules from saved model tensors and foreign names', () => {
    assert.deepEqual(adapterTensorRole(`base_model.model.${Q}.lora_A.weight`), { role: 'factor', module: Q, kind: 'linear', factor: 'a' });
    assert.deepEqual(adapterTensorRole(`base_model.model.${Q}.lora_B.weight`), { role: 'factor', module: Q, kind: 'linear', factor: 'b' });
    assert.deepEqual(adapterTensorRole('base_model.model.model.embed_tokens.lora_embedding_A'), { role: 'factor', module: 'model.embed_tokens', kind: 'embedding', factor: 'a' });
    assert.deepEqual(adapterTensorRole('base_model.model.model.embed_tokens.lora_embedding_B'), { role: 'factor', module: 'model.embed_tokens', kind: 'embedding', factor: 'b' });
    assert.deepEqual(adapterTensorRole('base_model.model.lm_head.weight'), { role: 'model-tensor', tensor: 'lm_head.weight' });
    assert.deepEqual(adapterTensorRole(`base_model.model.${Q}.lora_B.bias`), { role: 'model-tensor', tensor: `${Q}.lora_B.bias` });
    assert.equal(adapterTensorRole(`${Q}.lora_A.weight`), undefined);
    assert.equal(weightOfModule(Q), `${Q}.weight`);
  });

  it('resolves rank_pattern and alpha_pattern by suffix at a dot boundary or by regular expression, the first match winning', () => {
    assert.equal(patternValue({ q_proj: 16 }, Q), 16);
    assert.equal(patternValue({ proj: 16 }, Q), undefined, 'a key matches whole name components only');
    assert.equal(patternValue({ 'layers\\.0\\..*_proj': 2, q_proj: 16 }, Q), 2);
    assert.equal(patternValue({ [Q]: 3 }, Q), 3);
    assert.equal(patternValue(undefined, Q), undefined);
  });

  it('scales by lora_alpha / r, or lora_alpha / √r with use_rslora, from the patterns where they name the module', () => {
    const config: AdapterConfig = { peft_type: 'LORA', r: 4, lora_alpha: 8, rank_pattern: { down_proj: 2 }, alpha_pattern: { down_proj: 6 } };
    assert.deepEqual(moduleScaling(config, Q), { rank: 4, alpha: 8, scaling: 2 });
    assert.deepEqual(moduleScaling(config, 'model.layers.0.mlp.down_proj'), { rank: 2, alpha: 6, scaling: 3 });
    assert.deepEqual(moduleScaling({ ...config, use_rslora: true }, Q), { rank: 4, alpha: 8, scaling: 4 });
  });
});
