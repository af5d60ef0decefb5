/**
 * The panel Verify opens with its result (verify-html.ts renders it). Verifying the same residual
 * against the same base and instruct again reuses the tab.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import type { VerifyResult } from '../shared/jobs';
import { createNonce } from './report-panel';
import { verifyHtml, type VerifyInputs } from './verify-html';

const VERIFY_VIEW_TYPE = 'checkpointSurgeon.verify';

export class VerifyPanel {
  private static readonly panels = new Map<string, VerifyPanel>();

  private constructor(private readonly panel: vscode.WebviewPanel, readonly inputs: VerifyInputs, public result: VerifyResult) {}

  /** Shows the result in a new panel, or in the one already showing these three checkpoints. */
  static show(result: VerifyResult, inputs: VerifyInputs): VerifyPanel {
    const key = JSON.stringify([inputs.base, inputs.residual, inputs.instruct]);
    let view = VerifyPanel.panels.get(key);
    if (view === undefined) {
      const panel = vscode.window.createWebviewPanel(VERIFY_VIEW_TYPE, `Verify ${basename(inputs.residual)}`, vscode.ViewColumn.Active, {
        enableScripts: false, localResourceRoots: [],
      });
      view = new VerifyPanel(panel, inputs, result);
      VerifyPanel.panels.set(key, view);
      panel.onDidDispose(() => VerifyPanel.panels.delete(key));
    }
    view.result = result;
    view.panel.webview.html = verifyHtml(result, inputs, createNonce());
    view.panel.reveal();
    return view;
  }

  /** The open verify views (the extension API, for tests). */
  static get openPanels(): ReadonlyArray<{ title: string; ok: boolean; html: string }> {
    return [...VerifyPanel.panels.values()].map((v) => ({ title: v.panel.title, ok: v.result.ok, html: v.panel.webview.html }));
  }
}
