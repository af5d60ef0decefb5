/** Restricted mode: Push to Hub refuses before it reads a token or touches the network. */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { extensionApi, smallPair } from '../workspace-checkpoints';

suite('untrusted workspace: Push to Hub', () => {
  test('pushToHub refuses', async () => {
    await extensionApi();
    const [base] = await smallPair('untrusted-push');
    await assert.rejects(
      Promise.resolve(vscode.commands.executeCommand('checkpointSurgeon.pushToHub', { dir: base.dir, repo: 'tester/nope' })),
      /untrusted workspace/,
    );
  });
});
