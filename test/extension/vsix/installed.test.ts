/** The packaged extension, installed from its VSIX into code-server, activates and runs a command. */
import * as assert from 'node:assert/strict';
import { relative } from 'node:path';
import * as vscode from 'vscode';
import type { InspectResult } from '../../../src/shared/jobs';
import { extensionApi, smallPair } from '../workspace-checkpoints';

suite('installed from the VSIX', () => {
  test('the extension comes from the extensions folder, not the repository', () => {
    const extension = vscode.extensions.getExtension('checkpoint-surgeon.checkpoint-surgeon');
    assert.ok(extension, 'not installed');
    const extensionsDir = process.env.SURGEON_EXTENSIONS_DIR;
    assert.ok(extensionsDir, 'SURGEON_EXTENSIONS_DIR is not set');
    assert.ok(!relative(extensionsDir, extension.extensionPath).startsWith('..'), `${extension.extensionPath} is not under ${extensionsDir}`);
  });

  test('inspect runs in the packaged worker', async () => {
    await extensionApi();
    const [base] = await smallPair('vsix');
    const result = await vscode.commands.executeCommand<InspectResult>('checkpointSurgeon.inspect', { path: base.dir });
    assert.equal(result.kind, 'inspect');
    assert.equal(result.parameters, base.parameters);
  });
});
