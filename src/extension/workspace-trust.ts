/**
 * In an untrusted workspace the extension runs in limited mode: inspect and compare read files
 * and show them, but commands that write (compute, apply, model cards) refuse, because a
 * malicious workspace could otherwise make a click write files anywhere its paths point.
 */
import * as vscode from 'vscode';

export class UntrustedWorkspaceError extends Error {
  override readonly name = 'UntrustedWorkspaceError';
  constructor(readonly command: string) {
    super(`${command} writes files and is disabled in an untrusted workspace. Trust the workspace (Manage Workspace Trust) to use it; Inspect and Compare work without trust.`);
  }
}

export function requireTrust(command: string): void {
  if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError(command);
}
