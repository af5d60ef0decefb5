import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFromWebviewMessage, isToWebviewMessage, WEBVIEW_PROTOCOL_VERSION } from '../../../src/shared/webview-protocol';

test('the host accepts only well-formed messages from the webview', () => {
  assert.equal(isFromWebviewMessage({ type: 'ready', protocol: WEBVIEW_PROTOCOL_VERSION, restored: false }), true);
  assert.equal(isFromWebviewMessage({ type: 'ready', protocol: 99, restored: false }), false);
  assert.equal(isFromWebviewMessage({ type: 'export', format: 'csv', suggestedName: 'x.csv', content: 'a' }), true);
  assert.equal(isFromWebviewMessage({ type: 'export', format: 'exe', suggestedName: 'x', content: 'a' }), false);
  assert.equal(isFromWebviewMessage({ type: 'log', level: 'error', message: 'm' }), true);
  assert.equal(isFromWebviewMessage({ type: 'log', level: 'fatal', message: 'm' }), false);
  assert.equal(isFromWebviewMessage({ type: 'applyResidual' }), true);
  assert.equal(isFromWebviewMessage({ type: 'retry' }), true);
  assert.equal(isFromWebviewMessage({ type: 'export', format: 'csv', suggestedName: 'x.csv', content: 'a', rows: '2 of 5 tensors' }), true);
  assert.equal(isFromWebviewMessage({ type: 'export', format: 'csv', suggestedName: 'x.csv', content: 'a', rows: 2 }), false);
  assert.equal(isFromWebviewMessage({ type: 'runShell' }), false);
  assert.equal(isFromWebviewMessage(null), false);
});

test('the webview ignores messages that are not the host\'s', () => {
  assert.equal(isToWebviewMessage({ type: 'tensors', tensors: [] }), true);
  assert.equal(isToWebviewMessage({ type: 'tensors', tensors: 'x' }), false);
  assert.equal(isToWebviewMessage({ type: 'begin', a: { path: '/a' }, tensorsTotal: 3 }), true);
  assert.equal(isToWebviewMessage({ type: 'report', report: null }), false);
  assert.equal(isToWebviewMessage({ source: 'react-devtools' }), false);
  assert.equal(isToWebviewMessage({ type: 'failed', message: 'x [rule]', cancelled: false }), true);
  assert.equal(isToWebviewMessage({ type: 'failed', message: 'x', cancelled: false, rule: 'truncated-file' }), true);
  assert.equal(isToWebviewMessage({ type: 'failed', message: 'x', cancelled: false, rule: 3 }), false);
  assert.equal(isToWebviewMessage({ type: 'source', residual: true }), true);
  assert.equal(isToWebviewMessage({ type: 'source', residual: 'yes' }), false);
});

test('the host takes an export as LoRA adapter with no rank, or a whole rank from 1 to 4096', () => {
  assert.equal(isFromWebviewMessage({ type: 'exportLora' }), true);
  assert.equal(isFromWebviewMessage({ type: 'exportLora', rank: 16 }), true);
  assert.equal(isFromWebviewMessage({ type: 'exportLora', rank: 4096 }), true);
  for (const rank of [0, -1, 4097, 1.5, Number.NaN, '16', null]) assert.equal(isFromWebviewMessage({ type: 'exportLora', rank }), false, String(rank));
});
