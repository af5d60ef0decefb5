import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { architectureFamilies, diffConfigs } from '../../../src/engine/report/config-diff';

const REAL = join(__dirname, '../../fixtures/real');

async function config(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(REAL, path), 'utf8')) as Record<string, unknown>;
}

const mistralBase = (): Promise<Record<string, unknown>> =>
  config('mistral-7b-v0.1-base-vs-instruct/Mistral-7B-v0.1/config.json');
const mistralInstruct = (): Promise<Record<string, unknown>> =>
  config('mistral-7b-v0.1-base-vs-instruct/Mistral-7B-Instruct-v0.1/config.json');

describe('diffConfigs', () => {
  it('refuses on what makes the families differ, not on the note that the vocabulary grows', async () => {
    const base = await mistralBase();
    const report = diffConfigs(base, { ...base, model_type: 'llama', vocab_size: (base['vocab_size'] as number) + 8 });
    assert.equal(report.verdict, 'incompatible');
    assert.deepEqual(report.refusals, ['model_type differs: "mistral" vs "llama"']);
    assert.equal(report.reasons.length, 2, 'the growth is still said');
    assert.match(report.reasons[1]!, /^vocab_size grows/);
  });

  it('finds nothing between the real Mistral-7B-v0.1 base and instruct configs', async () => {
    assert.deepEqual(diffConfigs(await mistralBase(), await mistralInstruct()), { changed: [], verdict: 'compatible', reasons: [], refusals: [] });
  });

  it('reports a nested change by its dotted key (real Llama-3.2-3B-Instruct revisions)', async () => {
    const initial = await config('llama-3-family-instruct-only/Llama-3.2-3B-Instruct-initial-upload/config.json');
    const latest = await config('llama-3-family-instruct-only/Llama-3.2-3B-Instruct/config.json');
    const report = diffConfigs(initial, latest);
    assert.deepEqual(report.changed, [{ key: 'rope_scaling.factor', a: 8, b: 32 }]);
    assert.equal(report.verdict, 'compatible');
  });

  it('calls Mistral-7B and Llama-3.2-3B incompatible and says why', async () => {
    const mistral = await mistralBase();
    const llama = await config('llama-3-family-instruct-only/Llama-3.2-3B-Instruct/config.json');
    const report = diffConfigs(mistral, llama);
    assert.equal(report.verdict, 'incompatible');
    for (const key of ['model_type', 'architectures', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size']) {
      assert.ok(report.reasons.some((reason) => reason.startsWith(key)), `no reason about ${key}: ${report.reasons.join('; ')}`);
    }
    // Both have 8 key-value heads.
    assert.equal(report.reasons.some((reason) => reason.startsWith('num_key_value_heads')), false);
    assert.deepEqual(report.changed.find((change) => change.key === 'hidden_size'), { key: 'hidden_size', a: 4096, b: 3072 });
    assert.deepEqual(report.changed.find((change) => change.key === 'rope_scaling'), {
      key: 'rope_scaling', a: null, b: llama['rope_scaling'],
    });
  });

  it('accepts vocabulary growth with a note and refuses a shrink', async () => {
    const base = await mistralBase();
    const grown = { ...base, vocab_size: 32002 };
    const growth = diffConfigs(base, grown);
    assert.equal(growth.verdict, 'compatible');
    assert.deepEqual(growth.changed, [{ key: 'vocab_size', a: 32000, b: 32002 }]);
    assert.match(growth.reasons[0] ?? '', /grows from 32000 to 32002/);
    const shrink = diffConfigs(grown, base);
    assert.equal(shrink.verdict, 'incompatible');
    assert.match(shrink.reasons[0] ?? '', /shrinks from 32002 to 32000/);
  });

  it('compares GPT-2 spellings and treats a missing key-value head count as multi-head attention', () => {
    const gpt2 = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_embd: 768, n_layer: 12, n_head: 12 };
    assert.equal(diffConfigs(gpt2, { ...gpt2, n_layer: 24 }).reasons[0], 'num_hidden_layers differs: 12 vs 24');
    const mha = { model_type: 'llama', num_attention_heads: 32 };
    assert.equal(diffConfigs(mha, { ...mha, num_key_value_heads: 32 }).verdict, 'compatible');
    assert.equal(diffConfigs(mha, { ...mha, num_key_value_heads: 8 }).verdict, 'incompatible');
  });

  it('is unknown when a config is missing', async () => {
    const report = diffConfigs(await mistralBase(), null);
    assert.equal(report.verdict, 'unknown');
    assert.match(report.reasons[0] ?? '', /missing on side B/);
  });

  it('groups architectures into families', () => {
    assert.deepEqual(architectureFamilies({ architectures: ['MistralForCausalLM', 'GPT2LMHeadModel', 'MixtralForSequenceClassification'] }), [
      'Mistral', 'GPT2', 'Mixtral',
    ]);
    const head = { model_type: 'mistral', architectures: ['MistralForCausalLM'] };
    assert.equal(diffConfigs(head, { ...head, architectures: ['MistralForSequenceClassification'] }).verdict, 'compatible');
  });
});
