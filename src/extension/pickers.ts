/**
 * The prompts commands use when they are called without arguments: a quick pick of the
 * workspace's checkpoint folders and the Hugging Face cache's revisions plus "Browse...", and an
 * input box for the output folder.
 */
import * as vscode from 'vscode';
import { basename, dirname, join, relative } from 'node:path';
import type { CheckpointFinder } from './checkpoint-finder';
import { cachedCheckpoints } from './checkpoints-tree';

const BROWSE_LABEL = '$(folder-opened) Browse...';

interface CheckpointPickItem extends vscode.QuickPickItem {
  path?: string;
}

/** Asks for a checkpoint; undefined when the user dismisses the prompt. */
export async function pickCheckpoint(finder: CheckpointFinder, title: string, exclude: readonly string[] = []): Promise<string | undefined> {
  const [workspace, cache] = await Promise.all([finder.list(), cachedCheckpoints()]);
  const folders = workspace.filter((folder) => !exclude.includes(folder));
  const items: CheckpointPickItem[] = [
    ...folders.map((folder) => ({ label: `$(database) ${basename(folder)}`, description: workspaceRelative(folder), path: folder })),
    ...cache.filter((entry) => !exclude.includes(entry.path))
      .map((entry) => ({ label: `$(cloud) ${entry.label}`, description: entry.location, path: entry.path })),
    { label: BROWSE_LABEL, description: 'a folder, a .safetensors file or an index file', alwaysShow: true },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: `Checkpoint Surgeon: ${title}`, placeHolder: title, matchOnDescription: true, ignoreFocusOut: true });
  if (picked === undefined) return undefined;
  if (picked.path !== undefined) return picked.path;
  const uris = await vscode.window.showOpenDialog({
    title, canSelectFiles: true, canSelectFolders: true, canSelectMany: false,
    filters: { Checkpoints: ['safetensors', 'json'] },
  });
  return uris?.[0]?.fsPath;
}

/** Asks for the output folder, suggesting `<name>` next to the first input. */
export async function pickOutputFolder(title: string, nextTo: string, name: string): Promise<string | undefined> {
  const suggestion = defaultOutputFolder(nextTo, name);
  const value = await vscode.window.showInputBox({
    title: `Checkpoint Surgeon: ${title}`,
    prompt: 'Output folder (created; it must not exist yet)',
    value: suggestion,
    valueSelection: [suggestion.length - basename(suggestion).length, suggestion.length],
    ignoreFocusOut: true,
    validateInput: (text) => (text.trim() === '' ? 'Enter a folder path.' : undefined),
  });
  return value?.trim();
}

export async function pickScale(defaultScale: number): Promise<number | undefined> {
  const value = await vscode.window.showInputBox({
    title: 'Checkpoint Surgeon: scale (alpha)',
    prompt: 'theta_new = theta_base + alpha * residual',
    value: String(defaultScale),
    ignoreFocusOut: true,
    validateInput: (text) => (Number.isFinite(Number(text)) && text.trim() !== '' ? undefined : 'Enter a number, e.g. 1 or 0.5.'),
  });
  return value === undefined ? undefined : Number(value);
}

/** `<parent of the checkpoint>/<name>`, where the checkpoint may be a file inside its folder. */
export function defaultOutputFolder(nextTo: string, name: string): string {
  const folder = /\.(safetensors|json)$/i.test(nextTo) ? dirname(nextTo) : nextTo;
  return join(dirname(folder), name);
}

function workspaceRelative(path: string): string {
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const rel = relative(folder.uri.fsPath, path);
    if (!rel.startsWith('..')) return rel === '' ? folder.name : join(folder.name, rel);
  }
  return path;
}
