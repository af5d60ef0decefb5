import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressText } from '../../../webview/progress-text';

test('the status line gives bytes in decimal units, with one unit and no doubled B', () => {
  const text = progressText({ phase: 'stream', tensorsDone: 3, tensorsTotal: 10, bytesDone: 2_010_000_000, bytesTotal: 16_000_000_000, tensor: 'model.layers.2.mlp.up_proj.weight' });
  assert.equal(text, 'stream: 3 of 10 tensors, 2.01 GB of 16.0 GB (13%) · model.layers.2.mlp.up_proj.weight');
  assert.doesNotMatch(text, /BB/);
});

test('the status line leaves bytes out while there is no byte total', () => {
  assert.equal(progressText({ phase: 'plan', tensorsDone: 0, tensorsTotal: 10, bytesDone: 0, bytesTotal: 0 }), 'plan: 0 of 10 tensors');
});
