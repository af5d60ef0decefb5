/** The job machinery: Cancel leaves no partial output, and a second job queues behind the first. */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ComputeResult } from '../../../src/shared/jobs';
import { extensionApi, makeCheckpoint, smallPair, workspaceRoot } from '../workspace-checkpoints';

function waitFor<T>(event: vscode.Event<T>, predicate: (value: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const subscription = event((value) => {
      if (predicate(value)) {
        subscription.dispose();
        resolve(value);
      }
    });
  });
}

suite('jobs', () => {
  test('cancel stops a compute promptly and leaves no partial output', async () => {
    const api = await extensionApi();
    // About 100 MB per checkpoint: long enough to still be streaming when Cancel arrives.
    const spec = { layers: 12, hidden: 512, vocab: 512, dtype: 'F32' as const, intermediate: 1024 };
    const [base, instruct] = await Promise.all([
      makeCheckpoint({ name: 'big-base', seed: 3, ...spec }),
      makeCheckpoint({ name: 'big-instruct', seed: 4, ...spec }),
    ]);
    const out = join(workspaceRoot(), 'big-residual');
    const running = waitFor(api.onDidChangeJobState, (state) => state.running.length === 1);
    const job = Promise.resolve(vscode.commands.executeCommand('checkpointSurgeon.computeResidual', { base: base.dir, instruct: instruct.dir, out, dtype: 'f32' }));
    await running;
    const cancelledAt = Date.now();
    assert.equal(await vscode.commands.executeCommand('checkpointSurgeon.cancelJob'), true);
    // Cancel is no error: the command resolves to undefined and VS Code shows no modal of its own.
    assert.equal(await job, undefined);
    const failure = api.lastFailure();
    assert.ok(failure !== undefined, 'the cancel was not recorded');
    assert.equal(failure.cancelled, true);
    assert.equal(failure.rule, 'cancelled');
    assert.match(failure.message, /cancelled/);
    // Within the one-second grace period plus the clean-up.
    assert.ok(Date.now() - cancelledAt < 5_000, `cancel took ${Date.now() - cancelledAt} ms`);
    assert.equal(existsSync(out), false, 'the output folder was left behind');
    assert.deepEqual(readdirSync(workspaceRoot()).filter((name) => name.includes('big-residual')), []);
    assert.deepEqual(api.jobState(), { running: [], queued: [] });
  });

  test('a second job queues behind the first and both complete in order', async () => {
    const api = await extensionApi();
    const [base, instruct] = await smallPair('queue');
    const outs = [join(workspaceRoot(), 'queue-residual-1'), join(workspaceRoot(), 'queue-residual-2')];
    const finished: string[] = [];
    const states: Array<{ running: string[]; queued: string[] }> = [];
    const listener = api.onDidChangeJobState((state) => states.push(state));
    const jobs = outs.map((out) => Promise.resolve(
      vscode.commands.executeCommand<ComputeResult>('checkpointSurgeon.computeResidual', { base: base.dir, instruct: instruct.dir, out }),
    ).then((result) => { finished.push(result.out); return result; }));
    const results = await Promise.all(jobs);
    listener.dispose();
    assert.deepEqual(finished, outs);
    assert.ok(states.some((state) => state.running.length === 1 && state.queued.length === 1), 'the second job never waited in the queue');
    assert.ok(states.every((state) => state.running.length <= 1), 'two heavy jobs ran at once');
    for (const result of results) assert.ok(existsSync(join(result.out, 'model.safetensors')));
  });
});
