import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFacts, readConfigFacts, withConfigFacts } from '../../../src/extension/config-facts';
import { inspectHtml } from '../../../src/extension/inspect-html';
import type { InspectResult } from '../../../src/shared/jobs';

test('config facts: architecture, model type and vocabulary, also from text_config', () => {
  assert.deepEqual(configFacts({ architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32000 }),
    { architecture: 'LlamaForCausalLM', modelType: 'llama', vocabSize: 32000 });
  assert.deepEqual(configFacts({ model_type: 'gemma3', text_config: { vocab_size: 262208 } }),
    { architecture: null, modelType: 'gemma3', vocabSize: 262208 });
  assert.deepEqual(configFacts([1]), { architecture: null, modelType: null, vocabSize: null });
});

test('the viewer of a single file shows the config.json beside it, not "unknown"', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-facts-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 151936 }));
  const file: InspectResult = {
    kind: 'inspect', path: join(dir, 'model.safetensors'), layout: 'file', parameters: 12, bytes: 48, shards: ['model.safetensors'],
    dtypes: { F32: 12 }, architecture: null, modelType: null, metadata: {}, tokenizer: null,
    tensors: [{ name: 'w', dtype: 'F32', shape: [3, 4], file: 'model.safetensors', bytes: 48 }],
  };
  const html = inspectHtml(withConfigFacts(file, await readConfigFacts(dir)), 'NONCE', 'csp');
  assert.match(html, /Architecture<\/th><td>Qwen2ForCausalLM</);
  assert.match(html, /Model type<\/th><td>qwen2</);
  assert.match(html, /Vocabulary<\/th><td>151,936 \(config.json vocab_size\)</);
  assert.ok(!html.includes('unknown'));
  assert.deepEqual(await readConfigFacts(join(dir, 'nowhere')), { architecture: null, modelType: null, vocabSize: null });
});
