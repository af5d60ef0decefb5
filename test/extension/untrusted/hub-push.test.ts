/** Restricted mode: Push to Hub refuses before it reads a token or touches the network. */
import * as assert from 'node:assert/strict';
import { commandFailure, extensionApi, smallPair } from '../workspace-checkpoints';

suite('untrusted workspace: Push to Hub', () => {
  test('pushToHub refuses', async () => {
    await extensionApi();
    const [base] = await smallPair('untrusted-push');
    const failure = await commandFailure('checkpointSurgeon.pushToHub', { dir: base.dir, repo: 'tester/nope' });
    assert.match(failure.message, /untrusted workspace/);
  });
});
