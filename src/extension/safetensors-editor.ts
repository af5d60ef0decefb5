/**
 * A read-only custom editor for `*.safetensors` and `*.safetensors.index.json`: the tensor table
 * and header metadata, from the engine's `runInspect` in the worker (it reads headers only).
 */
import * as vscode from 'vscode';
import type { InspectResult } from '../shared/jobs';
import { createNonce } from './report-panel';
import { errorHtml, inspectHtml } from './inspect-html';
import type { JobService } from './job-service';

export const SAFETENSORS_VIEW_TYPE = 'checkpointSurgeon.safetensorsViewer';
/** A separate view type so the index opens as JSON by default and in the viewer on request ("Reopen With"). */
export const SAFETENSORS_INDEX_VIEW_TYPE = 'checkpointSurgeon.safetensorsIndexViewer';

export class SafetensorsEditorProvider implements vscode.CustomReadonlyEditorProvider {
  static register(jobs: JobService): vscode.Disposable {
    const provider = new SafetensorsEditorProvider(jobs);
    const options = { supportsMultipleEditorsPerDocument: true };
    return vscode.Disposable.from(
      vscode.window.registerCustomEditorProvider(SAFETENSORS_VIEW_TYPE, provider, options),
      vscode.window.registerCustomEditorProvider(SAFETENSORS_INDEX_VIEW_TYPE, provider, options),
    );
  }

  private constructor(private readonly jobs: JobService) {}

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    panel.webview.options = { enableScripts: false, localResourceRoots: [] };
    const nonce = createNonce();
    panel.webview.html = errorHtml('Reading the header...', nonce).replace('errorForeground', 'descriptionForeground');
    try {
      const result = await this.jobs.run<InspectResult>({ kind: 'inspect', options: { path: document.uri.fsPath } }, { title: `Inspect ${document.uri.fsPath}`, quiet: true });
      panel.webview.html = inspectHtml(result, createNonce(), panel.webview.cspSource);
    } catch (error) {
      panel.webview.html = errorHtml(error instanceof Error ? error.message : String(error), createNonce());
    }
  }
}
