import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputFolder, editorAdvice, orderCheckpoints, residualProvenance, scaleProblem } from '../../../src/extension/prompt-checks';

test('the scale prompt takes ordinary scales, negative ones and zero', () => {
  for (const text of ['1', '0.5', ' 2 ', '0', '-1', '1e3', '-1000']) assert.equal(scaleProblem(text), undefined, text);
});

test('the scale prompt refuses non-numbers, non-finite and absurd scales, saying why', () => {
  assert.match(scaleProblem('')!, /Enter a number/);
  assert.match(scaleProblem('abc')!, /not a number/);
  assert.match(scaleProblem('NaN')!, /not a number/);
  for (const text of ['Infinity', '-Infinity', '1e400']) assert.match(scaleProblem(text)!, /finite.*usually between 0 and 2/, text);
  assert.match(scaleProblem('1e39')!, /beyond binary32.*usually between 0 and 2/);
  assert.match(scaleProblem('1001')!, /absurd.*\|alpha\| > 1000.*usually between 0 and 2/);
  assert.match(scaleProblem('-5000')!, /absurd/);
});

test('the pickers list the preferred kind first, keeping each kind in its order', () => {
  const paths = ['/w/a-base', '/w/b-residual', '/w/c-instruct', '/w/d-residual'];
  const residuals = new Set(['/w/b-residual', '/w/d-residual']);
  assert.deepEqual(orderCheckpoints(paths, residuals, 'residual'), ['/w/b-residual', '/w/d-residual', '/w/a-base', '/w/c-instruct']);
  assert.deepEqual(orderCheckpoints(paths, residuals, 'model'), ['/w/a-base', '/w/c-instruct', '/w/b-residual', '/w/d-residual']);
  assert.deepEqual(orderCheckpoints(paths, residuals, undefined), paths);
});

test('verify\'s advice names the setting, not the CLI flag', () => {
  const engine = 'all 2 mismatching tensors have a residual too narrow to be exact (...): base + residual rounds twice, so elements can miss in the last place; a residual computed with --dtype f64 verifies to the bit';
  const advice = editorAdvice(engine);
  assert.ok(!advice.includes('--dtype'), advice);
  assert.match(advice, /a residual computed with the setting checkpointSurgeon\.residualDtype set to "f64" verifies to the bit$/);
  assert.equal(editorAdvice('no residual dtype reproduces f64 weights to the bit'), 'no residual dtype reproduces f64 weights to the bit');
});

function workspace(): { root: string; base: string; residual: string; mine: string; earlier: string } {
  const root = mkdtempSync(join(tmpdir(), 'prompt-checks-'));
  const base = join(root, 'base');
  const residual = join(root, 'residual');
  const mine = join(root, 'notes');
  const earlier = join(root, 'earlier-output');
  for (const dir of [base, residual, mine, earlier]) mkdirSync(dir);
  writeFileSync(join(base, 'model.safetensors'), '');
  writeFileSync(join(mine, 'todo.txt'), 'mine');
  writeFileSync(join(earlier, 'provenance.json'), JSON.stringify({ tool: { name: 'checkpoint-surgeon' }, operation: 'apply' }));
  writeFileSync(join(residual, 'provenance.json'), JSON.stringify({ tool: { name: 'checkpoint-surgeon' }, operation: 'compute', base: { path: '/models/base' }, instruct: { path: '/models/instruct' } }));
  return { root, base, residual, mine, earlier };
}

test('the output prompt: a new path is fine, an input or a path inside one is refused', async () => {
  const w = workspace();
  const inputs = { base: w.base, residual: w.residual };
  assert.deepEqual(await checkOutputFolder(join(w.root, 'new-model'), inputs), { kind: 'ok' });
  const same = await checkOutputFolder(w.base, inputs);
  assert.equal(same.kind, 'error');
  assert.match((same as { message: string }).message, /is the base checkpoint/);
  const inside = await checkOutputFolder(join(w.residual, 'out'), inputs);
  assert.equal(inside.kind, 'error');
  assert.match((inside as { message: string }).message, /inside the residual checkpoint/);
  const holds = await checkOutputFolder(w.root, inputs);
  assert.equal(holds.kind, 'error');
  assert.match((holds as { message: string }).message, /contains the base checkpoint/);
  assert.equal((await checkOutputFolder('  ', inputs)).kind, 'error');
});

test('the output prompt: a folder that is not ours is refused, an earlier output of ours will be replaced', async () => {
  const w = workspace();
  const mine = await checkOutputFolder(w.mine, { base: w.base });
  assert.equal(mine.kind, 'error');
  assert.match((mine as { message: string }).message, /not an output of Checkpoint Surgeon/);
  const file = await checkOutputFolder(join(w.mine, 'todo.txt'), { base: w.base });
  assert.match((file as { message: string }).message, /is a file/);
  const earlier = await checkOutputFolder(w.earlier, { base: w.base });
  assert.equal(earlier.kind, 'replace');
  assert.match((earlier as { message: string }).message, /earlier apply output.*will be replaced/);
});

test('verify pre-fills base and instruct from the residual\'s provenance.json', async () => {
  const w = workspace();
  assert.deepEqual(await residualProvenance(w.residual), { base: '/models/base', instruct: '/models/instruct' });
  assert.deepEqual(await residualProvenance(w.base), {});
});
