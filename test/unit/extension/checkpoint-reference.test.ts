import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { findListItemAt, findReferenceAt } from '../../../src/extension/checkpoint-reference';

test('YAML values, bare and quoted, under each key', () => {
  const line = 'model_name_or_path: ./checkpoints/base  # the CPT model';
  assert.deepEqual(findReferenceAt(line, 25), { key: 'model_name_or_path', value: './checkpoints/base', start: 20, end: 38 });
  assert.equal(findReferenceAt(line, 5), undefined, 'the key itself is not a reference');
  assert.equal(findReferenceAt(line, 45), undefined, 'nor is the comment');
  assert.equal(findReferenceAt("  base_model: 'meta-llama/Llama-3.1-8B'", 20)?.value, 'meta-llama/Llama-3.1-8B');
  assert.equal(findReferenceAt('tokenizer_name: "org/tok@main"', 20)?.value, 'org/tok@main');
});

test('JSON values, with escapes, several keys on one line', () => {
  const line = '{"model": "a\\\\b", "pretrained_model_name_or_path": "/models/x"}';
  assert.equal(findReferenceAt(line, 13)?.value, 'a\\b');
  const second = findReferenceAt(line, line.indexOf('/models/x') + 2);
  assert.equal(second?.key, 'pretrained_model_name_or_path');
  assert.equal(second?.value, '/models/x');
  assert.equal(line.slice(second?.start, second?.end), '/models/x');
});

test('other keys and prefixes of keys are ignored', () => {
  assert.equal(findReferenceAt('output_dir: ./out', 14), undefined);
  assert.equal(findReferenceAt('my_model: ./x', 11), undefined);
  assert.equal(findReferenceAt('model_type: llama', 14), undefined);
});

test('a YAML list item belongs to the key that opened the list', () => {
  assert.equal(findListItemAt('  - org/base-model', 8, 'base_model:')?.value, 'org/base-model');
  assert.equal(findListItemAt('  - "org/quoted"', 8, 'base_model:')?.value, 'org/quoted');
  assert.equal(findListItemAt('  - org/base-model', 8, 'datasets:'), undefined);
});
