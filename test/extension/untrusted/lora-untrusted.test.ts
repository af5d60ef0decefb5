/** Restricted mode: Export as LoRA Adapter writes files, so it refuses before any job and writes nothing. */
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { commandFailure, extensionApi, smallPair, workspaceRoot } from '../workspace-checkpoints';

suite('untrusted workspace: Export as LoRA Adapter', () => {
  test('exportLora refuses', async () => {
    await extensionApi();
    const [base, instruct] = await smallPair('untrusted-lora');
    const out = join(workspaceRoot(), 'untrusted-lora');
    const failure = await commandFailure('checkpointSurgeon.exportLora', { base: base.dir, instruct: instruct.dir, rank: 8, out });
    assert.match(failure.message, /Export as LoRA Adapter writes files and is disabled in an untrusted workspace/);
    assert.equal(existsSync(out), false);
  });
});
