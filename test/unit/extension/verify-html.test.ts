import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatError, verifyHtml, verifyRows } from '../../../src/extension/verify-html';
import type { VerifyResult } from '../../../src/shared/jobs';

const failed: VerifyResult = {
  kind: 'verify', ok: false, elements: 300, identical: 290, signedZeroOnly: 4, maxAbsError: 3e-8, seconds: 0.5,
  tensors: [
    { name: 'a.exact', elements: 100, identical: 100, signedZeroOnly: 0, maxAbsError: 0 },
    { name: 'b.<zeros>', elements: 100, identical: 96, signedZeroOnly: 4, maxAbsError: 0 },
    { name: 'c.off', elements: 100, identical: 94, signedZeroOnly: 0, maxAbsError: 3e-8 },
  ],
  issues: [{
    severity: 'warning', rule: 'inexact-residual', tensor: 'c.off',
    message: 'the one mismatching tensor has a residual too narrow to be exact (first "c.off": residual bf16, base bf16, instruct bf16): base + residual rounds twice, so elements can miss in the last place; a residual computed with --dtype f32 verifies to the bit',
  }],
};
const inputs = { base: '/m/base', residual: '/m/residual', instruct: '/m/instruct' };

test('the verify view lists the mismatching tensors first, with identical, signed-zero-only and max error', () => {
  assert.deepEqual(verifyRows(failed.tensors).map((t) => t.name), ['c.off', 'a.exact', 'b.<zeros>']);
  const html = verifyHtml(failed, inputs, 'NONCE');
  assert.match(html, /does not reproduce the instruct checkpoint: 1 of 3 tensors differ/);
  assert.match(html, /<td class="name">c\.off<\/td><td class="num">100<\/td><td class="num">94<\/td><td class="num">0<\/td><td class="num">6<\/td><td class="num">3.00e-8<\/td>/);
  assert.match(html, /b\.&#60;zeros&#62;<\/td><td class="num">100<\/td><td class="num">96<\/td><td class="num">4<\/td><td class="num">0<\/td>/);
  assert.ok(!html.includes('<zeros>'), 'tensor names are escaped');
  assert.ok(!/<script/i.test(html));
});

test('the verify view explains the dtype issue with the setting, not the CLI flag', () => {
  const html = verifyHtml(failed, inputs, 'NONCE');
  assert.match(html, /data-rule="inexact-residual"/);
  assert.match(html, /checkpointSurgeon\.residualDtype set to &#34;f32&#34; verifies to the bit/);
  assert.ok(!html.includes('--dtype'));
});

test('a passing verify says so', () => {
  const ok: VerifyResult = { ...failed, ok: true, identical: 296, issues: [], tensors: failed.tensors.slice(0, 2) };
  const html = verifyHtml(ok, inputs, 'NONCE');
  assert.match(html, /class="verdict ok"/);
  assert.match(html, /reproduces the instruct checkpoint/);
});

test('errors are shown to three significant digits', () => {
  assert.equal(formatError(0), '0');
  assert.equal(formatError(0.0000019073486328125), '1.91e-6');
  assert.equal(formatError(0.125), '0.125');
  assert.equal(formatError(2.3456), '2.35');
});
