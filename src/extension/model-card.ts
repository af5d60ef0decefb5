/** Opens a residual's README.md (the model card the engine wrote) in the Markdown preview. */
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export async function openModelCard(folder: string): Promise<boolean> {
  const readme = join(folder, 'README.md');
  if (!existsSync(readme)) return false;
  await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(readme));
  return true;
}
