/**
 * Verify opens a result view (per-tensor counts, the dtype explanation with the setting's name), the
 * output prompt checks what is typed as the engine would, and comparing a pair again reuses its tab.
 */
import * as assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ComputeResult, DiffResult, VerifyResult } from '../../../src/shared/jobs';
import { validateOutputFolder } from '../../../src/extension/pickers';
import { extensionApi, smallPair, workspaceRoot } from '../workspace-checkpoints';

suite('verify view, output prompt, report tabs', () => {
  let base: Awaited<ReturnType<typeof smallPair>>[0];
  let instruct: Awaited<ReturnType<typeof smallPair>>[1];
  let exact: string;
  let narrow: string;

  suiteSetup(async () => {
    [base, instruct] = await smallPair('view');
    exact = join(workspaceRoot(), 'view-residual-f32');
    narrow = join(workspaceRoot(), 'view-residual-bf16');
    await extensionApi();
    for (const [out, dtype] of [[exact, 'f32'], [narrow, 'bf16']] as const) {
      const computed = await vscode.commands.executeCommand<ComputeResult>('checkpointSurgeon.computeResidual', { base: base.dir, instruct: instruct.dir, out, dtype });
      assert.equal(computed?.kind, 'compute');
    }
  });

  test('verify returns the result and opens a view with the per-tensor counts', async () => {
    const api = await extensionApi();
    const result = await vscode.commands.executeCommand<VerifyResult>('checkpointSurgeon.verify', { base: base.dir, residual: exact, instruct: instruct.dir });
    assert.equal(result.ok, true);
    const view = api.openVerifyViews().find((v) => v.title === 'Verify view-residual-f32');
    assert.ok(view, `no verify view among ${JSON.stringify(api.openVerifyViews().map((v) => v.title))}`);
    assert.equal(view.ok, true);
    assert.match(view.html, /reproduces the instruct checkpoint/);
    for (const name of instruct.tensorNames) assert.ok(view.html.includes(`<td class="name">${name}</td>`), name);
    assert.match(view.html, /Signed zero only/);
    // Verifying again reuses the view.
    const count = api.openVerifyViews().length;
    await vscode.commands.executeCommand('checkpointSurgeon.verify', { base: base.dir, residual: exact, instruct: instruct.dir });
    assert.equal(api.openVerifyViews().length, count);
  });

  test('a bf16 residual\'s mismatches are explained with the residualDtype setting, not a CLI flag', async () => {
    const api = await extensionApi();
    const result = await vscode.commands.executeCommand<VerifyResult>('checkpointSurgeon.verify', { base: base.dir, residual: narrow, instruct: instruct.dir });
    const view = api.openVerifyViews().find((v) => v.title === 'Verify view-residual-bf16');
    assert.ok(view);
    if (result.ok) {
      assert.match(view.html, /class="verdict ok"/);
      return; // the generated pair happened to need no more than bf16
    }
    assert.equal(view.ok, false);
    assert.ok(result.issues.some((issue) => issue.rule === 'inexact-residual'));
    assert.match(view.html, /data-rule="inexact-residual"/);
    assert.match(view.html, /checkpointSurgeon\.residualDtype set to &#34;f32&#34;/);
    assert.ok(!view.html.includes('--dtype'));
    assert.match(view.html, /<tr class="mismatch">/);
  });

  test('the output prompt refuses an input, a path inside one and a folder not ours; warns that an earlier output is replaced', async () => {
    const inputs = { base: base.dir, residual: exact };
    assert.equal(await validateOutputFolder(join(workspaceRoot(), 'view-new-output'), inputs), undefined);
    const error = vscode.InputBoxValidationSeverity.Error;
    const same = await validateOutputFolder(base.dir, inputs);
    assert.equal(same?.severity, error);
    assert.match(same?.message ?? '', /is the base checkpoint/);
    const inside = await validateOutputFolder(join(exact, 'sub'), inputs);
    assert.equal(inside?.severity, error);
    assert.match(inside?.message ?? '', /inside the residual checkpoint/);
    const mine = join(workspaceRoot(), 'view-notes');
    mkdirSync(mine, { recursive: true });
    writeFileSync(join(mine, 'notes.txt'), 'mine');
    const notOurs = await validateOutputFolder(mine, inputs);
    assert.equal(notOurs?.severity, error);
    assert.match(notOurs?.message ?? '', /not an output of Checkpoint Surgeon/);
    const earlier = await validateOutputFolder(narrow, { base: base.dir, instruct: instruct.dir });
    assert.equal(earlier?.severity, vscode.InputBoxValidationSeverity.Warning);
    assert.match(earlier?.message ?? '', /earlier compute output.*will be replaced/);
  });

  test('comparing the same pair twice reuses its tab', async () => {
    const api = await extensionApi();
    const title = `Compare ${base.dir.split(/[\\/]/).pop()} ↔ ${instruct.dir.split(/[\\/]/).pop()}`;
    const first = await vscode.commands.executeCommand<DiffResult>('checkpointSurgeon.compare', { a: base.dir, b: instruct.dir });
    assert.equal(first.kind, 'diff');
    const count = api.openReports().filter((r) => r.title === title).length;
    assert.equal(count, 1);
    await vscode.commands.executeCommand<DiffResult>('checkpointSurgeon.compare', { a: base.dir, b: instruct.dir });
    assert.equal(api.openReports().filter((r) => r.title === title).length, 1);
    assert.ok(api.openReports().find((r) => r.title === title)?.hasReport);
  });
});
