/**
 * A read-only custom editor for `*.safetensors` and `*.safetensors.index.json`: the tensor table
 * and header metadata, from the engine's `runInspect` in the worker (it reads headers only).
 */
import * as vscode from 'vscode';
import { dirname } from 'node:path';
import { readConfigFacts, withConfigFacts } from './config-facts';
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
    // The page's one script (by nonce) filters and virtualises the tensor table; it posts nothing.
    panel.webview.options = { enableScripts: true, localResourceRoots: [] };
    const nonce = createNonce();
    panel.webview.html = errorHtml('Reading the header...', nonce).replace('errorForeground', 'descriptionForeground');
    try {
      const result = await this.jobs.run('inspect', { path: document.uri.fsPath }, { title: `Inspect ${document.uri.fsPath}`, quiet: true });
      // A file (or an index) beside a config.json: the job reads no config for a file, the viewer does.
      const facts = await readConfigFacts(dirname(document.uri.fsPath));
      panel.webview.html = inspectHtml(withConfigFacts(result, facts), createNonce(), panel.webview.cspSource);
    } catch (error) {
      panel.webview.html = errorHtml(error instanceof Error ? error.message : String(error), createNonce());
    }
  }
}
