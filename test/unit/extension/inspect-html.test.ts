import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { escapeHtml, inspectHtml, scriptJson } from '../../../src/extension/inspect-html';
import type { InspectResult } from '../../../src/shared/jobs';

const hostile = '<img src=x onerror=alert(1)>"\'&';

const result: InspectResult = {
  kind: 'inspect', path: '/m/model.safetensors', layout: 'file', parameters: 12, bytes: 48, shards: ['model.safetensors'],
  dtypes: { F32: 1 }, architecture: hostile, modelType: 'llama', metadata: { [hostile]: hostile, format: 'pt' },
  tokenizer: { vocabSize: 32000, addedTokens: 0, hasChatTemplate: false },
  tensors: [{ name: hostile, dtype: 'F32', shape: [3, 4], file: 'model.safetensors', bytes: 48 }],
};

test('every string from the file is escaped', () => {
  const html = inspectHtml(result, 'NONCE', 'https://cspsource');
  assert.ok(!html.includes('<img'), 'markup from the file reached the page');
  assert.equal(html.split(escapeHtml(hostile)).length - 1, 3, 'architecture, metadata key and value');
  assert.match(html, /default-src 'none'/);
  // One script, by nonce, which fills the table with text; the rows travel as JSON that cannot close the element.
  assert.equal(html.match(/<script nonce="NONCE">/g)?.length, 1);
  assert.equal(html.match(/<\/script>/g)?.length, 2, 'the data block and the script');
  assert.ok(html.includes(scriptJson([[hostile, 'F32', [3, 4], 48, 'model.safetensors']])));
  assert.match(html, /32,000/);
  assert.match(html, /id="filter"/);
});

test('escapeHtml covers the five characters', () => {
  assert.equal(escapeHtml(`<>&"'`), '&#60;&#62;&#38;&#34;&#39;');
});

test('scriptJson cannot end its script element', () => {
  const json = scriptJson(['</script><script>alert(1)</script>', '\u2028']);
  assert.ok(!json.includes('<'));
  assert.deepEqual(JSON.parse(json), ['</script><script>alert(1)</script>', '\u2028']);
});

test('a PEFT LoRA adapter is named as one, with its modules, ranks and base, where a model shows its architecture', () => {
  const html = inspectHtml({ ...result, architecture: null, modelType: null, lora: { modules: 14, ranks: [4, 8], savedTensors: 1, baseModel: hostile } }, 'NONCE', 'https://cspsource');
  assert.match(html, /a PEFT LoRA adapter \(14 modules, ranks 4 to 8, 1 tensor saved whole\) for &#60;img/);
  assert.ok(!html.includes('>Architecture<'), 'no "Architecture: unknown" beside an adapter');
});
