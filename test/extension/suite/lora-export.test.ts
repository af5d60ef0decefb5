/**
 * Export as LoRA Adapter in a real VS Code: with arguments it asks nothing and writes the adapter at the rank
 * given (adapter_config.json's r, the factors' shapes, the card and provenance), opens the adapter's view; a
 * refused export writes nothing; the menus offer it on residual folders only, in trusted workspaces.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ComputeResult, LoraResult } from '../../../src/shared/jobs';
import { treeDigest } from '../../helpers/tree-digest';
import { commandFailure, extensionApi, makeCheckpoint, readHeader, smallPair, workspaceRoot, type ExtensionApi } from '../workspace-checkpoints';

interface LoraViews { openLoraViews(): ReadonlyArray<{ title: string; out: string; html: string }> }
interface MenuEntry { command: string; when?: string }

const ADAPTER_FILES = ['adapter_model.safetensors', 'adapter_config.json', 'README.md', 'provenance.json'];

async function compute(base: string, instruct: string, out: string): Promise<void> {
  const computed = await vscode.commands.executeCommand<ComputeResult>('checkpointSurgeon.computeResidual', { base, instruct, out, dtype: 'f32' });
  assert.equal(computed?.kind, 'compute');
}

suite('export as LoRA adapter', () => {
  let base: string;
  let instruct: string;
  let residual: string;
  let api: ExtensionApi & LoraViews;

  suiteSetup(async () => {
    // The same vocabulary on both sides: an adapter cannot add token rows (the grown pair below is refused).
    const spec = { layers: 2, hidden: 32, vocab: 64, dtype: 'BF16' as const };
    const [b, i] = await Promise.all([makeCheckpoint({ ...spec, name: 'lora-base', seed: 1 }), makeCheckpoint({ ...spec, name: 'lora-instruct', seed: 2 })]);
    base = b.dir;
    instruct = i.dir;
    residual = join(workspaceRoot(), 'lora-residual');
    api = await extensionApi() as ExtensionApi & LoraViews;
    await compute(base, instruct, residual);
  });

  test('a residual at rank 8: adapter_config.json says r 8, the factors are rank 8, and the adapter view lists every matrix', async () => {
    const out = join(workspaceRoot(), 'lora-residual-lora-r8');
    const result = await vscode.commands.executeCommand<LoraResult>('checkpointSurgeon.exportLora', { residual, rank: 8, out });
    assert.equal(result?.kind, 'lora');
    for (const file of ADAPTER_FILES) assert.ok(existsSync(join(out, file)), `${file} written`);
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['peft_type'], 'LORA');
    assert.equal(config['r'], 8);
    assert.equal(config['lora_alpha'], 8);
    const header = await readHeader(join(out, 'adapter_model.safetensors'));
    assert.deepEqual(header['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']?.shape, [8, 32]);
    assert.deepEqual(header['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight']?.shape, [32, 8]);
    assert.ok(result.matrices.length > 0 && result.matrices.every((matrix) => matrix.rank === 8));
    assert.ok(result.adapterBytes < result.fullResidualBytes);

    const view = api.openLoraViews().find((v) => v.out === out);
    assert.ok(view, `no LoRA view among ${JSON.stringify(api.openLoraViews().map((v) => v.title))}`);
    assert.equal(view.title, 'LoRA adapter lora-residual-lora-r8');
    assert.match(view.html, /<th scope="row">Ranks<\/th><td>8 for every matrix<\/td>/);
    assert.match(view.html, /of the full residual/);
    assert.match(view.html, /data-reason="not-a-matrix"/, 'the norms are left out, and said so');
    assert.equal((view.html.match(/<tr><td class="name">/g) ?? []).length, result.matrices.length, 'a row per matrix');
    assert.match(view.html, /Relative error/);
  });

  test('base and instruct, each matrix\'s rank by energy', async () => {
    const out = join(workspaceRoot(), 'lora-pair-e90');
    const result = await vscode.commands.executeCommand<LoraResult>('checkpointSurgeon.exportLora', { base, instruct, energy: 0.9, out });
    assert.equal(result?.kind, 'lora');
    assert.deepEqual(result.ranks, { energy: 0.9, maxRank: 128 });
    assert.ok(result.matrices.every((matrix) => matrix.energy >= 0.9 - 1e-6 || matrix.rank === Math.min(...matrix.shape)), 'each matrix carries 90%');
    const provenance = JSON.parse(readFileSync(join(out, 'provenance.json'), 'utf8')) as { base: { path: string }; instruct: { path: string } };
    assert.equal(provenance.base.path, base);
    assert.equal(provenance.instruct.path, instruct);
  });

  test('a refused export writes nothing: its output inside the residual, or a residual that grows the vocabulary', async () => {
    const before = [...(await treeDigest(residual)).entries()];
    const inside = await commandFailure('checkpointSurgeon.exportLora', { residual, rank: 8, out: join(residual, 'lora') });
    assert.equal(inside.rule, 'output-overlaps-input');
    assert.deepEqual([...(await treeDigest(residual)).entries()], before, 'the residual is untouched');

    const [grownBase, grownInstruct] = await smallPair('lora-grown');
    const grown = join(workspaceRoot(), 'lora-grown-residual');
    await compute(grownBase.dir, grownInstruct.dir, grown);
    const out = join(workspaceRoot(), 'lora-grown-lora-r8');
    const refused = await commandFailure('checkpointSurgeon.exportLora', { residual: grown, rank: 8, out });
    assert.equal(refused.rule, 'vocabulary-growth');
    assert.match(refused.message, /cannot add token rows/);
    assert.equal(existsSync(out), false, 'no adapter folder');
  });

  test('arguments are checked before anything runs', async () => {
    assert.match((await commandFailure('checkpointSurgeon.exportLora', { residual, rank: 0, out: join(workspaceRoot(), 'lora-never') })).message,
      /"rank" must be a whole number from 1 to 4096, not 0/);
    assert.match((await commandFailure('checkpointSurgeon.exportLora', { residual, base })).message, /"residual" alone, or "base" and "instruct"/);
    assert.equal(existsSync(join(workspaceRoot(), 'lora-never')), false);
  });

  test('the menus offer it on residual folders, in trusted workspaces, and in the palette', async () => {
    const manifest = vscode.extensions.getExtension('checkpoint-surgeon.checkpoint-surgeon')?.packageJSON as {
      contributes: { commands: Array<{ command: string; title: string }>; menus: Record<string, MenuEntry[]> };
    };
    const { menus, commands } = manifest.contributes;
    assert.equal(commands.find((entry) => entry.command === 'checkpointSurgeon.exportLora')?.title, 'Export as LoRA Adapter...');
    assert.equal(menus['commandPalette']?.find((entry) => entry.command === 'checkpointSurgeon.exportLora')?.when, 'isWorkspaceTrusted');
    assert.equal(menus['commandPalette']?.find((entry) => entry.command === 'checkpointSurgeon.checkpoints.exportLora')?.when, 'false');
    const explorer = menus['explorer/context']?.find((entry) => entry.command === 'checkpointSurgeon.exportLora')?.when ?? '';
    assert.match(explorer, /resourcePath in checkpointSurgeon\.residualFolders/);
    assert.match(explorer, /isWorkspaceTrusted/);
    const item = menus['view/item/context']?.find((entry) => entry.command === 'checkpointSurgeon.checkpoints.exportLora')?.when ?? '';
    assert.match(item, /viewItem == checkpointSurgeon\.residual(\s|$)/);
    assert.match(item, /isWorkspaceTrusted/);
    const registered = await vscode.commands.getCommands(true);
    for (const command of ['checkpointSurgeon.exportLora', 'checkpointSurgeon.checkpoints.exportLora']) assert.ok(registered.includes(command), command);
  });
});
