/** Restricted mode: reading commands work, writing commands refuse and write nothing. */
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { InspectResult } from '../../../src/shared/jobs';
import { commandFailure, extensionApi, smallPair, workspaceRoot } from '../workspace-checkpoints';

suite('untrusted workspace', () => {
  test('the workspace is in restricted mode', () => {
    assert.equal(vscode.workspace.isTrusted, false);
  });

  test('compute, apply and model card refuse; inspect works', async () => {
    await extensionApi();
    const [base, instruct] = await smallPair('untrusted');
    const out = join(workspaceRoot(), 'untrusted-residual');
    const refusals = [
      await commandFailure('checkpointSurgeon.computeResidual', { base: base.dir, instruct: instruct.dir, out }),
      await commandFailure('checkpointSurgeon.applyResidual', { base: base.dir, residual: instruct.dir, out, scale: 1 }),
      await commandFailure('checkpointSurgeon.writeModelCard', { dir: base.dir }),
    ];
    for (const refusal of refusals) assert.match(refusal.message, /untrusted workspace/);
    assert.equal(existsSync(out), false);
    assert.equal(existsSync(join(base.dir, 'README.md')), false);
    const inspected = await vscode.commands.executeCommand<InspectResult>('checkpointSurgeon.inspect', { path: base.dir });
    assert.equal(inspected.tensors.length, base.tensorNames.length);
  });
});
