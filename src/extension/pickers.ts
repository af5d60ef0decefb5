/**
 * The prompts commands use when they are called without arguments: a quick pick of the
 * workspace's checkpoint folders and the Hugging Face cache's revisions plus "Browse...", and an
 * input box for the output folder.
 */
import * as vscode from 'vscode';
import { basename, dirname, join, relative } from 'node:path';
import type { CheckpointFinder } from './checkpoint-finder';
import { cachedCheckpoints } from './checkpoints-tree';
import { checkOutputFolder, orderCheckpoints, scaleProblem, type PickPreference } from './prompt-checks';

const BROWSE_LABEL = '$(folder-opened) Browse...';

interface CheckpointPickItem extends vscode.QuickPickItem {
  path?: string;
}

/** How a picker lists the checkpoints: which kind first, and a path to offer at the top (e.g. from provenance.json). */
export interface PickOptions {
  exclude?: readonly string[];
  prefer?: PickPreference;
  suggested?: { path: string; why: string };
}

/** Asks for a checkpoint; undefined when the user dismisses the prompt. Residual folders are marked. */
export async function pickCheckpoint(finder: CheckpointFinder, title: string, options: PickOptions = {}): Promise<string | undefined> {
  const { exclude = [], prefer, suggested } = options;
  const [workspace, cache] = await Promise.all([finder.list(), cachedCheckpoints()]);
  const residuals = finder.residuals;
  const folders = orderCheckpoints(workspace.filter((folder) => !exclude.includes(folder) && folder !== suggested?.path), residuals, prefer);
  const items: CheckpointPickItem[] = [
    ...(suggested === undefined ? [] : [{
      label: `$(history) ${basename(suggested.path)}`, description: suggested.why, detail: suggested.path, path: suggested.path,
    }]),
    ...folders.map((folder) => ({
      label: `$(database) ${basename(folder)}`,
      description: residuals.has(folder) ? `$(diff) residual · ${workspaceRelative(folder)}` : workspaceRelative(folder),
      path: folder,
    })),
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

/** The output folder the user chose, and whether it replaces an earlier output of this tool (confirmed). */
export interface OutputChoice {
  out: string;
  overwrite: boolean;
}

/**
 * Asks for the output folder, suggesting `<name>` next to the first input. The engine's checks run as
 * the user types: a path that is or lies inside an input, or exists and is not ours, is refused there;
 * an earlier output of this tool is accepted with a warning and replaced only after a confirmation.
 */
export async function pickOutputFolder(title: string, nextTo: string, name: string, inputs: Readonly<Record<string, string>> = {}): Promise<OutputChoice | undefined> {
  const suggestion = defaultOutputFolder(nextTo, name);
  const value = await vscode.window.showInputBox({
    title: `Checkpoint Surgeon: ${title}`,
    prompt: 'Output folder (created; it must not exist yet, or be an earlier output of Checkpoint Surgeon to replace)',
    value: suggestion,
    valueSelection: [suggestion.length - basename(suggestion).length, suggestion.length],
    ignoreFocusOut: true,
    validateInput: (text) => validateOutputFolder(text, inputs),
  });
  if (value === undefined) return undefined;
  const out = value.trim();
  const check = await checkOutputFolder(out, inputs);
  if (check.kind === 'error') {
    void vscode.window.showErrorMessage(check.message);
    return undefined;
  }
  if (check.kind === 'ok') return { out, overwrite: false };
  const replace = 'Replace';
  const answer = await vscode.window.showWarningMessage(
    `${out} holds an earlier ${check.operation} output of Checkpoint Surgeon. Replace it?`, { modal: true }, replace);
  return answer === replace ? { out, overwrite: true } : undefined;
}

/** The input box's message for a typed output path (exported for the extension tests). */
export async function validateOutputFolder(text: string, inputs: Readonly<Record<string, string>>): Promise<vscode.InputBoxValidationMessage | undefined> {
  const check = await checkOutputFolder(text, inputs);
  if (check.kind === 'ok') return undefined;
  return { message: check.message, severity: check.kind === 'error' ? vscode.InputBoxValidationSeverity.Error : vscode.InputBoxValidationSeverity.Warning };
}

export async function pickScale(defaultScale: number): Promise<number | undefined> {
  const value = await vscode.window.showInputBox({
    title: 'Checkpoint Surgeon: scale (alpha)',
    prompt: 'theta_new = theta_base + alpha * residual',
    value: String(defaultScale),
    ignoreFocusOut: true,
    validateInput: scaleProblem,
  });
  return value === undefined ? undefined : Number(value);
}

/** `<parent of the checkpoint>/<name>`, where the checkpoint may be a file inside its folder. */
function defaultOutputFolder(nextTo: string, name: string): string {
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
