/**
 * The host side of the report webview (D2's `webview/` bundle): it creates the panel with a strict
 * CSP, sends the DiffReport (whole, or live as tensors finish), and answers the webview's actions.
 * A WebviewPanelSerializer brings the report back after a window reload from the state the
 * webview saved with `setState` (it carries the report itself).
 */
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { JobProgress, LoraResult } from '../shared/jobs';
import type { DiffReport, TensorReport } from '../shared/report';
import {
  isFromWebviewMessage,
  type FromWebviewMessage, type ToWebviewMessage, type WebviewAction, type WebviewState,
} from '../shared/webview-protocol';
import { reportLoraInputs, type LoraInputs } from './lora-inputs';

const REPORT_VIEW_TYPE = 'checkpointSurgeon.report';

/**
 * What the panel's actions need from the rest of the extension: the commands, which resolve to
 * undefined when they were dismissed or ended without a result (they show why themselves).
 */
export interface ReportActions {
  applyResidual(residual: string): Thenable<unknown>;
  writeModelCard(dir: string): Thenable<unknown>;
  /** Export as LoRA Adapter on the report's inputs; with a rank it asks only for the output folder. */
  exportLora(args: LoraInputs & { rank?: number }): Thenable<LoraResult | undefined>;
  log: vscode.LogOutputChannel;
}

export interface ReportSource {
  title: string;
  /** The residual folder this report describes, which enables "apply" and "model card". */
  residualPath?: string;
}

/** How a failed job's tab runs that job again: its title, and the job with the arguments it failed with. */
export interface RetryAction {
  title: string;
  /** Resolves to the job's result, or to undefined when it failed again (the command showed why). */
  run(): Thenable<unknown>;
}

export class ReportPanel implements vscode.Disposable {
  private static readonly panels = new Set<ReportPanel>();
  private static actions: ReportActions | undefined;
  private static extensionUri: vscode.Uri | undefined;

  private report: DiffReport | undefined;
  private live: { begin: Extract<ToWebviewMessage, { type: 'begin' }>; tensors: TensorReport[] } | undefined;
  private failure: Extract<ToWebviewMessage, { type: 'failed' }> | undefined;
  /** What Retry runs for the failure shown (a refused job's arguments); none for a live Compare, which reruns its pair. */
  private retryAction: RetryAction | undefined;
  private pendingSelection: string | undefined;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  static register(context: vscode.ExtensionContext, actions: ReportActions): vscode.Disposable {
    ReportPanel.actions = actions;
    ReportPanel.extensionUri = context.extensionUri;
    return vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
        const saved = state as Partial<WebviewState> | undefined;
        const report = saved?.report ?? undefined;
        const instance = new ReportPanel(panel, { title: panel.title, ...(report?.residualOnly ? { residualPath: report.a.path } : {}) });
        if (report) instance.showReport(report);
      },
    });
  }

  /** Opens a panel for a finished report, or reveals the one already showing the same checkpoints. */
  static show(report: DiffReport, source: ReportSource): ReportPanel {
    const existing = [...ReportPanel.panels].find((p) => p.report !== undefined && sameCheckpoints(p.report, report));
    const panel = existing ?? ReportPanel.create(source);
    panel.showReport(report);
    panel.panel.reveal();
    return panel;
  }

  /** Opens a panel that fills in while a job runs. */
  static beginLive(a: DiffReport['a'], b: DiffReport['b'], tensorsTotal: number, source: ReportSource): ReportPanel {
    // Comparing the same pair again runs in the tab that shows it (finished, failed or live).
    const existing = [...ReportPanel.panels].find((p) => {
      const shown = p.report ?? p.live?.begin;
      return shown !== undefined && shown.a.path === a.path && shown.b?.path === b?.path;
    });
    const panel = existing ?? ReportPanel.create(source);
    panel.report = undefined;
    panel.failure = undefined;
    panel.retryAction = undefined;
    panel.pendingSelection = undefined;
    panel.live = { begin: { type: 'begin', a, ...(b ? { b } : {}), tensorsTotal }, tensors: [] };
    panel.post(panel.live.begin);
    if (existing !== undefined) panel.panel.reveal();
    return panel;
  }

  static get openPanels(): ReadonlyArray<{ title: string; report: DiffReport | undefined }> {
    return [...ReportPanel.panels].map((p) => ({ title: p.panel.title, report: p.report }));
  }

  private static create(source: ReportSource): ReportPanel {
    const extensionUri = ReportPanel.requireExtensionUri();
    const panel = vscode.window.createWebviewPanel(REPORT_VIEW_TYPE, source.title, vscode.ViewColumn.Active, {
      enableScripts: true,
      // Off: a hidden report costs no memory, and the webview restores its view from setState
      // (sort, filter, tab and the report itself) when it is shown again.
      retainContextWhenHidden: false,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media'), vscode.Uri.joinPath(extensionUri, 'dist')],
    });
    return new ReportPanel(panel, source);
  }

  private static requireExtensionUri(): vscode.Uri {
    if (ReportPanel.extensionUri === undefined) throw new Error('ReportPanel.register was not called.');
    return ReportPanel.extensionUri;
  }

  private constructor(private readonly panel: vscode.WebviewPanel, private readonly source: ReportSource) {
    const extensionUri = ReportPanel.requireExtensionUri();
    panel.webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media'), vscode.Uri.joinPath(extensionUri, 'dist')],
    };
    panel.webview.html = reportHtml(panel.webview, extensionUri);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((message: unknown) => void this.onMessage(message)),
      panel.onDidDispose(() => this.dispose()),
    );
    ReportPanel.panels.add(this);
  }

  showReport(report: DiffReport): void {
    this.report = report;
    this.live = undefined;
    this.failure = undefined;
    this.retryAction = undefined;
    this.post({ type: 'report', report });
  }

  addTensors(tensors: TensorReport[]): void {
    if (this.live === undefined) return;
    this.live.tensors.push(...tensors);
    this.post({ type: 'tensors', tensors });
  }

  progress(progress: JobProgress): void {
    this.post({ type: 'progress', progress });
  }

  /** Shows why the job stopped; `retry` is what the tab's Retry runs (else a live Compare runs its pair again). */
  fail(message: string, cancelled: boolean, rule?: string, retry?: RetryAction): void {
    this.failure = { type: 'failed', message, cancelled, ...(rule === undefined ? {} : { rule }) };
    this.retryAction = retry;
    this.post(this.failure);
  }

  /** Selects a tensor (e.g. the one a refusal names); kept until the webview is ready. */
  selectTensor(name: string): void {
    this.pendingSelection = name;
    this.post({ type: 'selectTensor', name });
  }

  private post(message: ToWebviewMessage): void {
    // Before `ready` the webview has no listener; everything is replayed from state on `ready`.
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  private async onMessage(message: unknown): Promise<void> {
    if (!isFromWebviewMessage(message)) {
      ReportPanel.actions?.log.warn(`Report webview sent an unexpected message: ${JSON.stringify(message)?.slice(0, 200)}`);
      return;
    }
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.replay();
        return;
      case 'log':
        ReportPanel.actions?.log[message.level](`[report webview] ${message.message}`);
        return;
      default:
        await this.runAction(message);
    }
  }

  private replay(): void {
    this.post({ type: 'source', residual: this.source.residualPath !== undefined });
    if (this.report !== undefined) this.post({ type: 'report', report: this.report });
    else if (this.live !== undefined) {
      this.post(this.live.begin);
      if (this.live.tensors.length > 0) this.post({ type: 'tensors', tensors: this.live.tensors });
    }
    if (this.failure !== undefined) this.post(this.failure);
    if (this.pendingSelection !== undefined) this.post({ type: 'selectTensor', name: this.pendingSelection });
  }

  private async runAction(message: Exclude<FromWebviewMessage, { type: 'ready' | 'log' }>): Promise<void> {
    const actions = ReportPanel.actions;
    if (actions === undefined) return;
    const action: WebviewAction = message.type;
    const answer = (ok: boolean, text: string): void => this.post({ type: 'actionResult', action, ok, message: text });
    try {
      switch (message.type) {
        case 'applyResidual': {
          if (this.source.residualPath === undefined) return answer(false, 'This report compares two checkpoints; compute a residual first to apply it.');
          if (await actions.applyResidual(this.source.residualPath) === undefined) return answer(false, 'Apply Residual did not finish.');
          return answer(true, 'Residual applied.');
        }
        case 'writeModelCard': {
          if (this.source.residualPath === undefined) return answer(false, 'This report is not of a residual folder, so there is no model card to write.');
          if (await actions.writeModelCard(this.source.residualPath) === undefined) return answer(false, 'Write Model Card did not finish.');
          return answer(true, `Wrote ${join(this.source.residualPath, 'README.md')}.`);
        }
        case 'exportLora': {
          const inputs = reportLoraInputs(this.report, this.source.residualPath);
          if (inputs === undefined) return answer(false, 'This report is of one model alone; a LoRA adapter is made of a residual or of two checkpoints.');
          const result = await actions.exportLora({ ...inputs, ...(message.rank === undefined ? {} : { rank: message.rank }) });
          if (result === undefined) return answer(false, 'Export as LoRA Adapter did not finish.');
          return answer(true, `Wrote the LoRA adapter to ${result.out}.`);
        }
        case 'export': {
          const target = await vscode.window.showSaveDialog({
            defaultUri: vscode.Uri.file(join(this.defaultExportFolder(), basename(message.suggestedName))),
            filters: message.format === 'csv' ? { CSV: ['csv'] } : { JSON: ['json'] },
            title: `Export the report as ${message.format.toUpperCase()}`,
          });
          if (target === undefined) return;
          // The webview serialises the content; CSV cells from file names are already guarded
          // against formula injection there (webview/csv-export.ts), so it is written as is.
          await writeFile(target.fsPath, message.content, 'utf8');
          return answer(true, `Exported ${target.fsPath}.`);
        }
        case 'retry': {
          const retry = this.retryAction;
          if (retry !== undefined) return await this.retry(retry, answer);
          // A live panel (Compare's) runs again in a fresh panel, and Compare shows its own errors.
          const begin = this.live?.begin;
          if (begin?.b === undefined) return answer(false, 'Run the command again to retry.');
          this.dispose();
          await vscode.commands.executeCommand('checkpointSurgeon.compare', { a: begin.a.path, b: begin.b.path }).then(undefined, () => undefined);
          return;
        }
      }
    } catch (error) {
      answer(false, error instanceof Error ? error.message : String(error));
    }
  }

  /**
   * Runs a refused job again with the arguments it had. The tab stays while it runs; once the job
   * succeeds, the problems it showed are gone and so is the tab (the command says what it wrote).
   * When it fails again the tab says so and offers Retry again; a new refusal's report comes back
   * into this tab through the notification's Show in Report.
   */
  private async retry(retry: RetryAction, answer: (ok: boolean, text: string) => void): Promise<void> {
    const result = await retry.run();
    if (result === undefined) {
      answer(false, `${retry.title} did not finish this time either; the notification says why.`);
      return;
    }
    this.dispose();
  }

  private defaultExportFolder(): string {
    if (this.source.residualPath !== undefined) return this.source.residualPath;
    const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return workspace ?? dirname(this.report?.a.path ?? '.');
  }

  dispose(): void {
    ReportPanel.panels.delete(this);
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
    this.panel.dispose();
  }
}

function sameCheckpoints(x: DiffReport, y: DiffReport): boolean {
  return x.a.path === y.a.path && x.b?.path === y.b?.path;
}

function reportHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = createNonce();
  const asset = (...segments: string[]): vscode.Uri => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...segments));
  const stylesheet = existsSync(join(extensionUri.fsPath, 'dist', 'webview.css'))
    ? `<link rel="stylesheet" href="${asset('dist', 'webview.css').toString()}">` : '';
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${stylesheet}
<title>Checkpoint Surgeon report</title>
</head>
<body>
<div id="app" data-nonce="${nonce}"></div>
<script nonce="${nonce}" src="${asset('dist', 'webview.js').toString()}"></script>
</body>
</html>`;
}

export function createNonce(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return [...bytes].map((byte) => alphabet[byte % alphabet.length]).join('');
}
