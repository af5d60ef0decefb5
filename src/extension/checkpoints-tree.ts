/**
 * The "Checkpoints" view in the Explorer: the workspace's checkpoint folders (from the
 * CheckpointFinder) and the revisions of the Hugging Face cache, each described lazily from its
 * headers (architecture, dominant dtype, parameter count) through the header-only inspect job.
 * The workspace is searched when the view first lists it (shown, or asked through the API), not at
 * activation. Its context menu hands the item's path to the existing commands.
 */
import * as vscode from 'vscode';
import { basename, relative } from 'node:path';
import { isResidualFolder } from '../engine/checkpoint/checkpoint-kind';
import { listCachedModels, type CachedModel, type CachedRevision } from '../engine/hub/hub-cache';
import { formatBytes, formatCount, formatParameters } from '../shared/quantities';
import type { InspectResult } from '../shared/jobs';
import { parseCheckpointItem } from './command-args';
import { runJobCommand, type CommandFactory } from './command-runner';
import type { CheckpointFinder } from './checkpoint-finder';
import { readConfigFacts } from './config-facts';
import type { JobService } from './job-service';

const CHECKPOINTS_VIEW_ID = 'checkpointSurgeon.checkpoints';
/** An item's contextValue: the menus (package.json, view/item/context) offer every checkpoint command on both. */
const CHECKPOINT_CONTEXT = 'checkpointSurgeon.checkpoint';
/** A residual folder (its config.json is a residuals config): Verify and Write Model Card too. */
const RESIDUAL_CONTEXT = 'checkpointSurgeon.residual';
/** Commit hashes are shown like git's short form. */
const SHORT_COMMIT_LENGTH = 7;

export type CheckpointSource = 'workspace' | 'cache';

export type CheckpointNode =
  | { kind: 'root'; source: CheckpointSource }
  | {
    kind: 'checkpoint'; source: CheckpointSource; path: string; label: string; location: string;
    size?: number; commit?: string; refs?: string[]; files?: string[];
    /** A residual folder, known when the view lists it. */
    residual?: boolean;
  }
  | { kind: 'message'; text: string };

/** What the header read found, or why it failed. */
type Details = { ok: true; result: InspectResult } | { ok: false; message: string };

/** A rendered tree item, for tests and other extensions (the extension API returns these). */
export interface CheckpointTreeEntry {
  label: string;
  description: string;
  tooltip: string;
  path?: string;
  /** What the item's context menu is chosen by (`checkpointSurgeon.checkpoint` or `checkpointSurgeon.residual`). */
  contextValue?: string;
  children?: CheckpointTreeEntry[];
}

/** `repo@ref` for a cached revision: its first branch or tag, else the short commit. */
function cacheEntryLabel(repo: string, revision: Pick<CachedRevision, 'commit' | 'refs'>): string {
  return `${repo}@${revision.refs[0] ?? revision.commit.slice(0, SHORT_COMMIT_LENGTH)}`;
}

/** The cache's revisions as checkpoint nodes; an unreadable cache is an empty list. */
export async function cachedCheckpoints(): Promise<Array<Extract<CheckpointNode, { kind: 'checkpoint' }>>> {
  let models: CachedModel[];
  try {
    models = (await listCachedModels()).models;
  } catch {
    return [];
  }
  return models.flatMap((model) => model.revisions.map((revision) => ({
    kind: 'checkpoint' as const, source: 'cache' as const, path: revision.path,
    label: cacheEntryLabel(model.repo, revision), location: 'Hugging Face cache',
    size: revision.size, commit: revision.commit, refs: revision.refs, files: revision.files,
  })));
}

export class CheckpointsTreeProvider implements vscode.TreeDataProvider<CheckpointNode>, vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<CheckpointNode | undefined>();
  readonly onDidChangeTreeData = this.changeEmitter.event;
  private readonly details = new Map<string, Promise<Details>>();
  private readonly settled = new Map<string, Details>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly finder: CheckpointFinder, private readonly jobs: JobService) {
    this.disposables.push(this.changeEmitter, finder.onDidChange(() => this.refresh()));
  }

  /** The view's Refresh button: rescans the workspace too (its watcher misses some changes). */
  async refreshAll(): Promise<void> {
    await this.finder.rescan();
    this.refresh();
  }

  /** Re-lists both roots and re-reads headers (files may have been rewritten). */
  refresh(): void {
    this.details.clear();
    this.settled.clear();
    this.changeEmitter.fire(undefined);
  }

  async getChildren(node?: CheckpointNode): Promise<CheckpointNode[]> {
    if (node === undefined) return [{ kind: 'root', source: 'workspace' }, { kind: 'root', source: 'cache' }];
    if (node.kind !== 'root') return [];
    const children = node.source === 'workspace' ? await this.workspaceNodes() : await markResiduals(await cachedCheckpoints());
    if (children.length > 0) return children;
    return [{ kind: 'message', text: node.source === 'workspace' ? 'No checkpoint folders in the workspace' : 'No models in the Hugging Face cache' }];
  }

  getTreeItem(node: CheckpointNode): vscode.TreeItem {
    if (node.kind === 'root') {
      const item = new vscode.TreeItem(node.source === 'workspace' ? 'Workspace' : 'Hugging Face cache', vscode.TreeItemCollapsibleState.Expanded);
      item.iconPath = new vscode.ThemeIcon(node.source === 'workspace' ? 'root-folder' : 'cloud');
      return item;
    }
    if (node.kind === 'message') return new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
    const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
    const details = this.settled.get(node.path);
    if (details === undefined) void this.load(node).then(() => this.changeEmitter.fire(node));
    const rendered = renderCheckpoint(node, details);
    item.description = rendered.description;
    item.tooltip = new vscode.MarkdownString(rendered.tooltip);
    item.iconPath = new vscode.ThemeIcon('database');
    item.contextValue = contextValueOf(node);
    item.resourceUri = vscode.Uri.file(node.path);
    item.id = `${node.source}:${node.path}`;
    // A click inspects it (the header-only job, then the safetensors viewer).
    item.command = { command: 'checkpointSurgeon.checkpoints.inspect', title: 'Inspect', arguments: [node] };
    return item;
  }

  /** The whole tree with every header read finished, as the view shows it. */
  async entries(): Promise<CheckpointTreeEntry[]> {
    const roots = await this.getChildren();
    return Promise.all(roots.map(async (root) => {
      const rootItem = this.getTreeItem(root);
      const children = await Promise.all((await this.getChildren(root)).map(async (child) => {
        if (child.kind !== 'checkpoint') return { label: child.kind === 'message' ? child.text : '', description: '', tooltip: '' };
        const rendered = renderCheckpoint(child, await this.load(child));
        return { label: child.label, path: child.path, contextValue: contextValueOf(child), ...rendered };
      }));
      return { label: String(rootItem.label), description: '', tooltip: '', children };
    }));
  }

  /** The workspace's checkpoint folders, the residuals among them marked (the finder's scan knows them). */
  private async workspaceNodes(): Promise<CheckpointNode[]> {
    const folders = await this.finder.list();
    const residuals = this.finder.residuals;
    return folders.map((path) => ({ ...workspaceNode(path), residual: residuals.has(path) }));
  }

  private load(node: Extract<CheckpointNode, { kind: 'checkpoint' }>): Promise<Details> {
    let pending = this.details.get(node.path);
    if (pending === undefined) {
      pending = this.jobs.run('inspect', { path: node.path }, { title: `Read headers of ${node.label}`, quiet: true })
        .then(async (result): Promise<Details> => ({ ok: true, result: { ...result, architecture: result.architecture ?? (await readConfigFacts(node.path)).architecture } }),
          (error: unknown): Details => ({ ok: false, message: error instanceof Error ? error.message : String(error) }))
        .then((details) => {
          this.settled.set(node.path, details);
          return details;
        });
      this.details.set(node.path, pending);
    }
    return pending;
  }

  dispose(): void {
    for (const disposable of this.disposables) disposable.dispose();
  }
}

function workspaceNode(path: string): Extract<CheckpointNode, { kind: 'checkpoint' }> {
  return { kind: 'checkpoint', source: 'workspace', path, label: basename(path), location: workspaceRelative(path) };
}

/** Cached revisions that hold a residual (one pulled from the Hub) get its menu too. */
async function markResiduals(nodes: Array<Extract<CheckpointNode, { kind: 'checkpoint' }>>): Promise<CheckpointNode[]> {
  const residual = await Promise.all(nodes.map((node) => isResidualFolder(node.path)));
  return nodes.map((node, i) => ({ ...node, residual: residual[i] === true }));
}

function contextValueOf(node: Extract<CheckpointNode, { kind: 'checkpoint' }>): string {
  return node.residual === true ? RESIDUAL_CONTEXT : CHECKPOINT_CONTEXT;
}

function renderCheckpoint(node: Extract<CheckpointNode, { kind: 'checkpoint' }>, details: Details | undefined): { description: string; tooltip: string } {
  const facts: string[] = [];
  const lines = [`**${node.label}**`, '', `Path: \`${node.path}\``];
  if (node.commit !== undefined) lines.push(`Commit: \`${node.commit}\``);
  if (node.refs !== undefined && node.refs.length > 0) lines.push(`Refs: ${node.refs.join(', ')}`);
  if (node.size !== undefined) {
    facts.push(formatBytes(node.size));
    lines.push(`Size on disk: ${formatBytes(node.size)}`);
  }
  if (details === undefined) {
    facts.push('reading headers…');
  } else if (!details.ok) {
    facts.push('unreadable');
    lines.push(`Could not read the headers: ${details.message}`);
  } else {
    const { architecture, parameters, dtypes, bytes } = details.result;
    const dtype = dominantDtype(dtypes);
    if (architecture !== null) facts.push(architecture);
    facts.push(dtype, `${formatParameters(parameters)} params`);
    if (node.size === undefined) facts.push(formatBytes(bytes));
    lines.push(`Architecture: ${architecture ?? 'unknown'}`, `Dtype: ${dtype}`, `Parameters: ${formatCount(parameters)}`, `Tensor bytes: ${formatBytes(bytes)}`);
  }
  // A folder at the workspace's root would only repeat its label; a nested one says where it is.
  if (node.source === 'workspace' && node.location !== node.label) facts.unshift(node.location);
  return { description: facts.join(' · '), tooltip: lines.join('  \n') };
}

function dominantDtype(dtypes: Record<string, number>): string {
  return Object.entries(dtypes).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'no tensors';
}

function workspaceRelative(path: string): string {
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const rel = relative(folder.uri.fsPath, path);
    if (!rel.startsWith('..')) return rel === '' ? folder.name : rel;
  }
  return path;
}

/** The view itself; its items are listed (and the workspace searched) when VS Code first shows it. */
export function createCheckpointsView(provider: CheckpointsTreeProvider): vscode.TreeView<CheckpointNode> {
  return vscode.window.createTreeView(CHECKPOINTS_VIEW_ID, { treeDataProvider: provider, showCollapseAll: false });
}

/** A context-menu command of the view: it passes the item's path to an existing command. */
function forward(title: string, run: (path: string) => Thenable<unknown>): CommandFactory {
  return (ctx) => (node) => runJobCommand(ctx, title, async () => run(parseCheckpointItem(title, node)));
}

/** The view's commands, for main.ts's record of command factories. */
export const checkpointsViewCommands: Record<string, CommandFactory> = {
  'checkpointSurgeon.checkpoints.refresh': (ctx) => () => runJobCommand(ctx, 'Refresh', () => ctx.checkpoints.refreshAll()),
  'checkpointSurgeon.checkpoints.computeAsBase': forward('Compute Residual', (path) => vscode.commands.executeCommand('checkpointSurgeon.computeResidual', { base: path })),
  'checkpointSurgeon.checkpoints.computeAsInstruct': forward('Compute Residual', (path) => vscode.commands.executeCommand('checkpointSurgeon.computeResidual', { instruct: path })),
  'checkpointSurgeon.checkpoints.applyTo': forward('Apply Residual', (path) => vscode.commands.executeCommand('checkpointSurgeon.explorer.applyTo', vscode.Uri.file(path))),
  'checkpointSurgeon.checkpoints.compareWith': forward('Compare', (path) => vscode.commands.executeCommand('checkpointSurgeon.compare', { a: path })),
  'checkpointSurgeon.checkpoints.inspect': forward('Inspect', (path) => vscode.commands.executeCommand('checkpointSurgeon.inspect', { path })),
  'checkpointSurgeon.checkpoints.verify': forward('Verify', (path) => vscode.commands.executeCommand('checkpointSurgeon.verify', { residual: path })),
  'checkpointSurgeon.checkpoints.writeModelCard': forward('Write Model Card', (path) => vscode.commands.executeCommand('checkpointSurgeon.writeModelCard', { dir: path })),
  'checkpointSurgeon.checkpoints.exportLora': forward('Export as LoRA Adapter', (path) => vscode.commands.executeCommand('checkpointSurgeon.exportLora', { residual: path })),
  'checkpointSurgeon.checkpoints.pushToHub': forward('Push to Hub', (path) => vscode.commands.executeCommand('checkpointSurgeon.pushToHub', { dir: path })),
  'checkpointSurgeon.checkpoints.reveal': forward('Reveal in File Explorer', (path) => vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(path))),
};
