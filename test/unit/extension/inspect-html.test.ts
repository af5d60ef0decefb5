import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { escapeHtml, inspectHtml } from '../../../src/extension/inspect-html';
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
  assert.equal(html.split(escapeHtml(hostile)).length - 1, 4, 'architecture, metadata key and value, tensor name');
  assert.match(html, /default-src 'none'/);
  assert.ok(!/<script/i.test(html), 'the viewer runs no script');
  assert.match(html, /\[3, 4\]/);
  assert.match(html, /32,000/);
});

test('escapeHtml covers the five characters', () => {
  assert.equal(escapeHtml(`<>&"'`), '&#60;&#62;&#38;&#34;&#39;');
});
