/**
 * The Checkpoints view's context menu on a residual folder: the item says it is a residual (its own
 * contextValue), the manifest offers Verify and Write Model Card on it beside every checkpoint
 * command, and the item's Write Model Card writes the card (the code-server test right-clicks it).
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { CardResult, ComputeResult } from '../../../src/shared/jobs';
import { extensionApi, smallPair, workspaceRoot } from '../workspace-checkpoints';

interface TreeEntry { label: string; path?: string; contextValue?: string; description?: string; children?: TreeEntry[] }
interface MenuEntry { command: string; when?: string }

const VIEW = 'checkpointSurgeon.checkpoints';
const CHECKPOINT = 'checkpointSurgeon.checkpoint';
const RESIDUAL = 'checkpointSurgeon.residual';
/** The commands every checkpoint item offers, residual or not. */
const EVERY_CHECKPOINT = ['computeAsBase', 'computeAsInstruct', 'applyTo', 'compareWith', 'inspect', 'pushToHub', 'reveal']
  .map((name) => `checkpointSurgeon.checkpoints.${name}`);
const RESIDUAL_ONLY = ['checkpointSurgeon.checkpoints.verify', 'checkpointSurgeon.checkpoints.writeModelCard'];

/**
 * Whether an item of the view with `contextValue` gets the menu entry, by its `when` clause's
 * `view ==` and `viewItem ==`/`viewItem =~` terms (the others, such as isWorkspaceTrusted, hold here).
 */
function offered(entry: MenuEntry, contextValue: string): boolean {
  const terms = (entry.when ?? '').split('&&').map((term) => term.trim());
  return terms.every((term) => {
    const equal = /^(view|viewItem) == (\S+)$/.exec(term);
    if (equal) return equal[1] === 'view' ? equal[2] === VIEW : equal[2] === contextValue;
    const regex = /^viewItem =~ \/(.+)\/$/.exec(term);
    if (regex) return new RegExp(regex[1]!).test(contextValue);
    return !term.startsWith('view');
  });
}

suite('the Checkpoints view on a residual folder', () => {
  let residual: string;
  let base: string;

  suiteSetup(async () => {
    const [basePair, instructPair] = await smallPair('tree');
    base = basePair.dir;
    residual = join(workspaceRoot(), 'tree-residual');
    await extensionApi();
    const computed = await vscode.commands.executeCommand<ComputeResult>('checkpointSurgeon.computeResidual', {
      base: basePair.dir, instruct: instructPair.dir, out: residual,
    });
    assert.equal(computed?.kind, 'compute');
  });

  test('a residual item has its own context value; a model keeps the checkpoint one', async () => {
    const api = await extensionApi() as unknown as { checkpointTree(): Promise<TreeEntry[]> };
    const workspace = (await api.checkpointTree()).find((root) => root.label === 'Workspace');
    const items = workspace?.children ?? [];
    const contextOf = (path: string): string | undefined => items.find((item) => item.path === path)?.contextValue;
    assert.equal(contextOf(residual), RESIDUAL, `items: ${JSON.stringify(items.map((i) => [i.label, i.contextValue]))}`);
    assert.equal(contextOf(base), CHECKPOINT);
    // A folder at the workspace's root is named once: its description does not repeat the label.
    const residualItem = items.find((item) => item.path === residual);
    assert.ok(residualItem?.description !== undefined && !residualItem.description.startsWith('tree-residual'), `description: ${residualItem?.description}`);
  });

  test('the menu offers Verify and Write Model Card on residuals, and every checkpoint command on both', () => {
    const manifest = vscode.extensions.getExtension('checkpoint-surgeon.checkpoint-surgeon')?.packageJSON as {
      contributes: { menus: Record<string, MenuEntry[]> };
    };
    const menu = manifest.contributes.menus['view/item/context'] ?? [];
    const commandsFor = (contextValue: string): string[] => menu.filter((entry) => offered(entry, contextValue)).map((entry) => entry.command).sort();
    const onResidual = commandsFor(RESIDUAL);
    const onModel = commandsFor(CHECKPOINT);
    for (const command of [...EVERY_CHECKPOINT, ...RESIDUAL_ONLY]) assert.ok(onResidual.includes(command), `${command} on a residual: ${onResidual.join(', ')}`);
    for (const command of EVERY_CHECKPOINT) assert.ok(onModel.includes(command), `${command} on a model: ${onModel.join(', ')}`);
    for (const command of RESIDUAL_ONLY) assert.ok(!onModel.includes(command), `${command} is not offered on a model`);
    // A residual is a checkpoint too: whatever a model item offers, a residual item offers.
    assert.deepEqual(onModel.filter((command) => !onResidual.includes(command)), []);
    // The wrappers take a tree item: they stay out of the palette, as the other view commands do.
    const palette = manifest.contributes.menus.commandPalette ?? [];
    for (const command of RESIDUAL_ONLY) assert.equal(palette.find((entry) => entry.command === command)?.when, 'false', command);
  });

  test('Write Model Card on the item writes README.md into the residual folder', async () => {
    const card = join(residual, 'README.md');
    rmSync(card, { force: true });
    const node = { kind: 'checkpoint', source: 'workspace', path: residual, label: 'tree-residual', location: 'tree-residual', residual: true };
    const result = await vscode.commands.executeCommand<CardResult>('checkpointSurgeon.checkpoints.writeModelCard', node);
    assert.equal(result?.kind, 'card');
    assert.ok(existsSync(card), 'README.md written');
    assert.match(readFileSync(card, 'utf8'), /tree-base/, 'the card names the base it was computed from');
  });
});
