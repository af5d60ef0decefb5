import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeFailure, noMismatchText } from '../../../webview/failure-model';

test('a refusal shows its rule apart from its message', () => {
  const view = describeFailure({ message: 'shard-00002.safetensors, tensor "model.norm.weight": the file ends before the tensor\'s data [truncated-file]', cancelled: false }, 0, 291);
  assert.equal(view.title, 'The comparison failed');
  assert.equal(view.rule, 'truncated-file');
  assert.equal(view.message, 'shard-00002.safetensors, tensor "model.norm.weight": the file ends before the tensor\'s data');
  assert.equal(view.progress, 'No tensor was compared before it stopped, so there is nothing to show.');
  assert.equal(view.cancelled, false);
});

test('the host\'s rule wins; a message without one keeps its text', () => {
  assert.equal(describeFailure({ message: 'disk full', cancelled: false, rule: 'io-error' }, 3, 10).rule, 'io-error');
  const plain = describeFailure({ message: 'ENOSPC: no space left on device [x] later', cancelled: false }, 1200, 5000);
  assert.equal(plain.rule, null);
  assert.equal(plain.message, 'ENOSPC: no space left on device [x] later');
  assert.equal(plain.progress, '1,200 of 5,000 tensors were compared before it stopped; below are those alone, not the whole checkpoint.');
});

test('a cancellation (flagged, or by its rule) is not shown as a failure', () => {
  // commands.ts passes cancelled=false for every error: the rule says it.
  const byRule = describeFailure({ message: 'The job was cancelled. [cancelled]', cancelled: false }, 10, 0);
  assert.deepEqual([byRule.cancelled, byRule.title, byRule.rule, byRule.message], [true, 'The comparison was cancelled', null, 'The job was cancelled.']);
  assert.equal(byRule.progress, '10 tensors were compared before it stopped; below are those alone, not the whole checkpoint.');
  assert.equal(describeFailure({ message: '', cancelled: true }, 0, 0).message, 'The job was cancelled.');
});

test('an incomplete report never claims every tensor matches', () => {
  assert.equal(noMismatchText({ compared: 291, total: 291, state: 'complete' }), 'Every tensor has the same name, shape and dtype on both sides.');
  assert.equal(noMismatchText({ compared: 0, total: 291, state: 'stopped' }), 'No tensor was compared.');
  assert.equal(noMismatchText({ compared: 0, total: 291, state: 'running' }), 'No tensor compared yet.');
  assert.equal(noMismatchText({ compared: 40, total: 1291, state: 'running' }), 'No mismatch among the 40 of 1,291 tensors compared so far.');
  assert.match(noMismatchText({ compared: 40, total: 0, state: 'stopped' }), /^No mismatch among the 40 tensors compared before the run stopped/);
});
