/**
 * The extension's entry: `activate` only wires the pieces together; each lives in its own file.
 * The API it returns lets tests (and other extensions) watch the job queue.
 */
import * as vscode from 'vscode';
import { join } from 'node:path';
import { CheckpointFinder } from './checkpoint-finder';
import { CheckpointHoverProvider, HOVER_SELECTOR } from './checkpoint-hover';
import { CheckpointsTreeProvider, registerCheckpointsView, type CheckpointTreeEntry } from './checkpoints-tree';
import { createCommands, registerCommands } from './commands';
import { SurgeonConfig } from './config';
import { createHubCommands } from './hub-push-command';
import { JobService, type JobState } from './job-service';
import { JobWorker } from './job-worker';
import { ReportPanel } from './report-panel';
import { ReportStore } from './report-store';
import { SafetensorsEditorProvider } from './safetensors-editor';

export interface CheckpointSurgeonApi {
  jobState(): JobState;
  onDidChangeJobState: vscode.Event<JobState>;
  cancelAll(): void;
  openReports(): ReadonlyArray<{ title: string; hasReport: boolean }>;
  /** The Checkpoints view re-listed, with every header read finished. */
  checkpointTree(): Promise<CheckpointTreeEntry[]>;
}

export function activate(context: vscode.ExtensionContext): CheckpointSurgeonApi {
  const log = vscode.window.createOutputChannel('Checkpoint Surgeon', { log: true });
  const config = new SurgeonConfig();
  const worker = new JobWorker(join(context.extensionPath, 'dist', 'worker.js'), workerSettings(config), log);
  const jobs = new JobService(worker, log);
  const finder = new CheckpointFinder();
  const reports = new ReportStore(context);
  const commands = createCommands({ jobs, finder, config, reports, log });
  const checkpointsTree = new CheckpointsTreeProvider(finder, jobs);

  context.subscriptions.push(
    log, worker, jobs, finder,
    ...registerCommands(commands),
    ...registerCommands(createHubCommands({ secrets: context.secrets, finder, log })),
    checkpointsTree, ...registerCheckpointsView(checkpointsTree),
    ReportPanel.register(context, {
      log,
      applyResidual: (residual) => vscode.commands.executeCommand('checkpointSurgeon.applyResidual', { residual }),
      writeModelCard: (dir) => vscode.commands.executeCommand('checkpointSurgeon.writeModelCard', { dir }),
    }),
    SafetensorsEditorProvider.register(jobs),
    vscode.languages.registerHoverProvider(HOVER_SELECTOR, new CheckpointHoverProvider(jobs, reports)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (SurgeonConfig.affectsWorker(event)) worker.updateSettings(workerSettings(config));
    }),
  );
  void finder.rescan();

  return {
    jobState: () => jobs.state,
    onDidChangeJobState: jobs.onDidChangeState,
    cancelAll: () => jobs.cancelAll(),
    openReports: () => ReportPanel.openPanels.map((p) => ({ title: p.title, hasReport: p.report !== undefined })),
    checkpointTree: async () => {
      await checkpointsTree.refreshAll();
      return checkpointsTree.entries();
    },
  };
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

function workerSettings(config: SurgeonConfig): { computeBackend: string; threads: number } {
  return { computeBackend: config.computeBackend, threads: config.workerThreads };
}
