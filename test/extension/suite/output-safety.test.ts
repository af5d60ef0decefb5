/**
 * The engine's output rules hold in the extension too: a job never writes over or into its inputs,
 * never replaces a folder it did not write, and clears what a killed job left beside its output.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ComputeResult } from '../../../src/shared/jobs';
import { treeDigest } from '../../helpers/tree-digest';
import { commandFailure, extensionApi, smallPair, workspaceRoot } from '../workspace-checkpoints';

/** Everything under the given folders, and which of the workspace's entries start with `prefix`. */
async function snapshot(folders: readonly string[], prefix: string): Promise<unknown> {
  const digests = await Promise.all(folders.map(async (folder) => [folder, [...(await treeDigest(folder)).entries()]]));
  return { digests, entries: readdirSync(workspaceRoot()).filter((name) => name.startsWith(prefix) || name.startsWith(`.${prefix}`)).sort() };
}

suite('output safety', () => {
  let base: Awaited<ReturnType<typeof smallPair>>[0];
  let instruct: Awaited<ReturnType<typeof smallPair>>[1];

  suiteSetup(async () => {
    [base, instruct] = await smallPair('safety');
    await extensionApi();
  });

  /** Why a compute to `out` was refused (the command resolves to undefined and shows it). */
  const refusal = async (out: string): Promise<string> =>
    (await commandFailure('checkpointSurgeon.computeResidual', { base: base.dir, instruct: instruct.dir, out })).message;

  test('a compute whose output is an input folder, or inside one, is refused and changes nothing', async () => {
    const before = await snapshot([base.dir, instruct.dir], 'safety');
    assert.match(await refusal(base.dir), /the output is the base checkpoint.*\[output-overlaps-input\]/);
    assert.match(await refusal(instruct.dir), /the output is the instruct checkpoint.*\[output-overlaps-input\]/);
    assert.match(await refusal(join(base.dir, 'residual')), /the output is inside the base checkpoint.*\[output-overlaps-input\]/);
    assert.match(await refusal(workspaceRoot()), /the output contains the base checkpoint.*\[output-overlaps-input\]/);
    assert.deepEqual(await snapshot([base.dir, instruct.dir], 'safety'), before);
  });

  test('a folder the tool did not write is never replaced', async () => {
    const mine = join(workspaceRoot(), 'safety-my-files');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.md'), 'mine');
    const before = await snapshot([mine, base.dir, instruct.dir], 'safety');
    assert.match(await refusal(mine), /already exists and is a folder without the provenance\.json.*--overwrite replaces only.*\[output-exists\]/);
    assert.deepEqual(await snapshot([mine, base.dir, instruct.dir], 'safety'), before);
  });

  test('a killed job\'s partial folder and lock are cleared by the next job, which says so', async () => {
    const out = join(workspaceRoot(), 'safety-residual');
    const partial = join(workspaceRoot(), '.safety-residual.partial-killed');
    mkdirSync(partial);
    writeFileSync(join(partial, 'model.safetensors'), 'half written');
    // The extension host may be Electron: run as plain Node to get a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    const deadPid = Number(dead.stdout.toString());
    assert.ok(deadPid > 0, dead.stderr.toString());
    const lock = join(workspaceRoot(), '.safety-residual.lock');
    writeFileSync(lock, JSON.stringify({ pid: deadPid, createdAt: new Date().toISOString() }));
    const result = await vscode.commands.executeCommand<ComputeResult>('checkpointSurgeon.computeResidual', { base: base.dir, instruct: instruct.dir, out });
    const issue = result.issues.find((candidate) => candidate.rule === 'stale-output-removed');
    assert.ok(issue?.message.includes(partial) && issue.message.includes(lock), JSON.stringify(result.issues));
    assert.deepEqual(readdirSync(workspaceRoot()).filter((name) => name.startsWith('.safety-residual.')), []);
    assert.ok(readdirSync(out).includes('model.safetensors'));
  });
});
