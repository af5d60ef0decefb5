/**
 * Every command called WITH its argument object, on generated checkpoints: the files it writes and
 * the result it returns (the same object the CLI prints with --json).
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ApplyResult, CardResult, ComputeResult, DiffResult, InspectResult, VerifyResult } from '../../../src/shared/jobs';
import { commandFailure, extensionApi, readHeader, smallPair, workspaceRoot } from '../workspace-checkpoints';

suite('commands with arguments', () => {
  let base: Awaited<ReturnType<typeof smallPair>>[0];
  let instruct: Awaited<ReturnType<typeof smallPair>>[1];
  let residualDir: string;

  suiteSetup(async () => {
    [base, instruct] = await smallPair('cmd');
    residualDir = join(workspaceRoot(), 'cmd-residual');
    await extensionApi();
  });

  test('every contributed command is registered', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    const manifest = vscode.extensions.getExtension('checkpoint-surgeon.checkpoint-surgeon')?.packageJSON as { contributes: { commands: Array<{ command: string }> } };
    for (const { command } of manifest.contributes.commands) assert.ok(registered.has(command), `${command} is not registered`);
  });

  test('computeResidual writes the residual, config, model card and returns the result', async () => {
    const result = await vscode.commands.executeCommand<ComputeResult>('checkpointSurgeon.computeResidual', {
      base: base.dir, instruct: instruct.dir, out: residualDir, dtype: 'f32',
    });
    assert.equal(result.kind, 'compute');
    assert.equal(result.out, residualDir);
    assert.equal(result.tensors, instruct.tensorNames.length);
    const weights = readdirSync(residualDir).filter((name) => name.endsWith('.safetensors'));
    assert.deepEqual(weights, ['model.safetensors']);
    const header = await readHeader(join(residualDir, 'model.safetensors'));
    assert.deepEqual(Object.keys(header).sort(), [...instruct.tensorNames].sort());
    for (const entry of Object.values(header)) assert.equal(entry.dtype, 'F32');
    // The embedding grew from the base's 64 rows to the instruct's 72.
    assert.deepEqual(header['model.embed_tokens.weight']?.shape, [72, 32]);
    const config = JSON.parse(readFileSync(join(residualDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.residuals_version, '1.0');
    assert.equal(config.param_count, instruct.tensorNames.length);
    assert.ok(existsSync(join(residualDir, 'README.md')));
    for (const file of result.files) assert.equal(statSync(join(residualDir, file.file)).size, file.bytes);
    assert.equal(result.report.tensors.length, instruct.tensorNames.length);
  });

  test('applyResidual to the base reproduces the instruct checkpoint, and verify says so', async () => {
    const out = join(workspaceRoot(), 'cmd-applied');
    const applied = await vscode.commands.executeCommand<ApplyResult>('checkpointSurgeon.applyResidual', {
      base: base.dir, residual: residualDir, out, scale: 1,
    });
    assert.equal(applied.kind, 'apply');
    assert.equal(applied.scale, 1);
    assert.equal(applied.applied.length + applied.copiedUnchanged.length, instruct.tensorNames.length);
    const header = await readHeader(join(out, 'model.safetensors'));
    assert.deepEqual(header['model.embed_tokens.weight']?.shape, [72, 32]);
    assert.equal(header['model.embed_tokens.weight']?.dtype, 'BF16');
    // Bit-identical to the instruct checkpoint's tensor data.
    const ours = readFileSync(join(out, 'model.safetensors'));
    const theirs = readFileSync(join(instruct.dir, 'model.safetensors'));
    const dataOf = (bytes: Buffer, entry: { data_offsets: [number, number] }): Buffer => {
      const start = 8 + Number(bytes.readBigUInt64LE(0));
      return bytes.subarray(start + entry.data_offsets[0], start + entry.data_offsets[1]);
    };
    const theirHeader = await readHeader(join(instruct.dir, 'model.safetensors'));
    for (const name of instruct.tensorNames) {
      const mine = header[name];
      const expected = theirHeader[name];
      assert.ok(mine && expected, name);
      assert.ok(dataOf(ours, mine).equals(dataOf(theirs, expected)), `${name} differs from the instruct checkpoint`);
    }

    const verified = await vscode.commands.executeCommand<VerifyResult>('checkpointSurgeon.verify', {
      base: base.dir, residual: residualDir, instruct: instruct.dir,
    });
    assert.equal(verified.kind, 'verify');
    assert.equal(verified.ok, true);
    assert.equal(verified.identical, verified.elements);
    assert.ok(verified.elements > 0);
  });

  test('compare returns the diff and opens the report panel', async () => {
    const api = await extensionApi();
    const result = await vscode.commands.executeCommand<DiffResult>('checkpointSurgeon.compare', { a: base.dir, b: instruct.dir });
    assert.equal(result.kind, 'diff');
    assert.equal(result.report.a.path, base.dir);
    assert.equal(result.report.b?.path, instruct.dir);
    assert.equal(result.report.tensors.length, instruct.tensorNames.length);
    const embed = result.report.tensors.find((t) => t.name === 'model.embed_tokens.weight');
    assert.equal(embed?.status, 'shape-mismatch');
    assert.ok(api.openReports().some((panel) => panel.hasReport));
  });

  test('compare runs the spectral pass when the checkpointSurgeon.diff.spectra setting is on, at the rank diff.spectraRank sets', async () => {
    const setting = vscode.workspace.getConfiguration('checkpointSurgeon');
    const plain = await vscode.commands.executeCommand<DiffResult>('checkpointSurgeon.compare', { a: base.dir, b: instruct.dir });
    assert.equal(plain.report.spectraProvider, undefined);
    await setting.update('diff.spectra', true, vscode.ConfigurationTarget.Global);
    try {
      const result = await vscode.commands.executeCommand<DiffResult>('checkpointSurgeon.compare', { a: base.dir, b: instruct.dir });
      assert.match(result.report.spectraProvider ?? '', /^Spectra on /);
      const matrices = result.report.tensors.filter((tensor) => tensor.spectra !== undefined);
      assert.ok(matrices.length > 0, 'the changed 2-D matrices have spectra');
      for (const tensor of matrices) assert.ok(tensor.spectra!.effectiveRank > 0 && tensor.spectra!.effectiveRank <= Math.min(...tensor.b!.shape));
      for (const tensor of matrices) assert.equal(tensor.spectra!.singularValues.length, Math.min(64, ...tensor.b!.shape));
      await setting.update('diff.spectraRank', 3, vscode.ConfigurationTarget.Global);
      const ranked = await vscode.commands.executeCommand<DiffResult>('checkpointSurgeon.compare', { a: base.dir, b: instruct.dir });
      const rankedMatrices = ranked.report.tensors.filter((tensor) => tensor.spectra !== undefined);
      assert.equal(rankedMatrices.length, matrices.length);
      for (const tensor of rankedMatrices) assert.equal(tensor.spectra!.singularValues.length, Math.min(3, ...tensor.b!.shape), tensor.name);
    } finally {
      await setting.update('diff.spectra', undefined, vscode.ConfigurationTarget.Global);
      await setting.update('diff.spectraRank', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  test('inspect returns the tensor table and opens the safetensors viewer', async () => {
    const result = await vscode.commands.executeCommand<InspectResult>('checkpointSurgeon.inspect', { path: base.dir });
    assert.equal(result.kind, 'inspect');
    assert.equal(result.tensors.length, base.tensorNames.length);
    assert.equal(result.parameters, base.parameters);
    // Elements per dtype.
    assert.deepEqual(result.dtypes, { BF16: base.parameters });
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    assert.ok(input instanceof vscode.TabInputCustom, 'the active tab is not a custom editor');
    assert.equal(input.viewType, 'checkpointSurgeon.safetensorsViewer');
    assert.equal(input.uri.fsPath, join(base.dir, 'model.safetensors'));
  });

  test('writeModelCard regenerates README.md', async () => {
    const readme = join(residualDir, 'README.md');
    rmSync(readme);
    const result = await vscode.commands.executeCommand<CardResult>('checkpointSurgeon.writeModelCard', { dir: residualDir });
    assert.equal(result.kind, 'card');
    assert.equal(result.path, readme);
    assert.match(readFileSync(readme, 'utf8'), /^---\n/);
  });

  test('a refusal resolves to undefined with the engine rule, never rejects, and leaves nothing behind', async () => {
    const before = readdirSync(residualDir).sort();
    const failure = await commandFailure('checkpointSurgeon.computeResidual', { base: base.dir, instruct: instruct.dir, out: residualDir });
    assert.equal(failure.command, 'Compute Residual');
    assert.equal(failure.rule, 'output-exists');
    assert.match(failure.message, /output-exists/);
    assert.equal(failure.cancelled, false);
    assert.deepEqual(readdirSync(residualDir).sort(), before);
  });

  test('arguments of the wrong type or name are refused by name, before any prompt or job', async () => {
    const wrongType = await commandFailure('checkpointSurgeon.compare', { a: base.dir, b: 42 });
    assert.match(wrongType.message, /"b" must be a non-empty string, not 42/);
    const unknown = await commandFailure('checkpointSurgeon.inspect', { file: base.dir });
    assert.match(unknown.message, /no option "file"/);
    const notAUri = await commandFailure('checkpointSurgeon.explorer.inspect', 'not a uri');
    assert.match(notAUri.message, /Explorer's context menu/);
    assert.deepEqual((await extensionApi()).jobState(), { running: [], queued: [] });
  });

  test('an Explorer command takes the clicked Uri', async () => {
    const result = await vscode.commands.executeCommand<InspectResult>('checkpointSurgeon.explorer.inspect', vscode.Uri.file(base.dir));
    assert.equal(result.kind, 'inspect');
    assert.equal(result.tensors.length, base.tensorNames.length);
  });

  test('hover on model_name_or_path shows the checkpoint and the report', async () => {
    const uri = vscode.Uri.file(join(workspaceRoot(), 'train.yaml'));
    await vscode.workspace.fs.writeFile(uri, Buffer.from('model_name_or_path: ./cmd-base\nlr: 1e-5\n'));
    const document = await vscode.workspace.openTextDocument(uri);
    assert.equal(document.languageId, 'yaml');
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(0, 24));
    const text = hovers.flatMap((h) => h.contents).map((c) => (typeof c === 'string' ? c : c.value)).join('\n');
    assert.match(text, /LlamaForCausalLM/);
    assert.match(text, /Vocabulary: 64/);
    assert.match(text, /command:checkpointSurgeon\.openReport/);
  });
});
