/**
 * The panel Export as LoRA Adapter opens with its result (lora-html.ts renders it), and its two buttons: the
 * adapter's model card, and the adapter folder in the Explorer. Exporting to the same folder again reuses the tab.
 */
import * as vscode from 'vscode';
import { basename, relative } from 'node:path';
import type { LoraResult } from '../shared/jobs';
import { loraHtml, type LoraViewAction } from './lora-html';
import type { LoraInputs } from './lora-inputs';
import { openModelCard } from './model-card';
import { createNonce } from './report-panel';

const LORA_VIEW_TYPE = 'checkpointSurgeon.loraAdapter';
const ACTIONS: ReadonlySet<string> = new Set<LoraViewAction>(['openModelCard', 'reveal']);

export class LoraPanel {
  private static readonly panels = new Map<string, LoraPanel>();

  private constructor(private readonly panel: vscode.WebviewPanel, public result: LoraResult) {
    panel.webview.onDidReceiveMessage((message: unknown) => {
      const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
      if (typeof type === 'string' && ACTIONS.has(type)) void this.act(type as LoraViewAction);
    });
  }

  /** Shows the result in a new panel, or in the one already showing this adapter folder. */
  static show(result: LoraResult, inputs: LoraInputs): LoraPanel {
    let view = LoraPanel.panels.get(result.out);
    if (view === undefined) {
      const panel = vscode.window.createWebviewPanel(LORA_VIEW_TYPE, `LoRA adapter ${basename(result.out)}`, vscode.ViewColumn.Active, {
        enableScripts: true, localResourceRoots: [],
      });
      const created = new LoraPanel(panel, result);
      LoraPanel.panels.set(result.out, created);
      panel.onDidDispose(() => LoraPanel.panels.delete(result.out));
      view = created;
    }
    view.result = result;
    view.panel.webview.html = loraHtml(result, inputs, createNonce());
    view.panel.reveal();
    return view;
  }

  /** The open LoRA adapter views (the extension API, for tests). */
  static get openPanels(): ReadonlyArray<{ title: string; out: string; html: string }> {
    return [...LoraPanel.panels.values()].map((v) => ({ title: v.panel.title, out: v.result.out, html: v.panel.webview.html }));
  }

  private async act(action: LoraViewAction): Promise<void> {
    const folder = this.result.out;
    switch (action) {
      case 'openModelCard':
        if (!await openModelCard(folder)) void vscode.window.showWarningMessage(`${folder} has no README.md any more.`);
        return;
      case 'reveal': {
        // The Explorer shows the workspace's folders only; an adapter outside them is shown by the system's file manager.
        const inWorkspace = (vscode.workspace.workspaceFolders ?? []).some((workspace) => {
          const rel = relative(workspace.uri.fsPath, folder);
          return rel !== '' && !rel.startsWith('..');
        });
        await vscode.commands.executeCommand(inWorkspace ? 'revealInExplorer' : 'revealFileInOS', vscode.Uri.file(folder));
        return;
      }
    }
  }
}
