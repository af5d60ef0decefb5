/**
 * The extension's entry: `activate` only wires the pieces together; each lives in its own file.
 * The commands are a record of factories (`createCommands`), registered in one loop with one
 * context, as rust-analyzer's client does. Activation searches nothing: the Checkpoints view and
 * the quick picks search the workspace when first used. The API it returns lets tests (and other
 * extensions) watch the job queue and read why the last command ended without a result.
 */
import * as vscode from 'vscode';
import { join } from 'node:path';
import type { LoraResult } from '../shared/jobs';
import { CheckpointFinder } from './checkpoint-finder';
import { CheckpointHoverProvider, HOVER_SELECTOR } from './checkpoint-hover';
import { checkpointsViewCommands, CheckpointsTreeProvider, createCheckpointsView, type CheckpointTreeEntry } from './checkpoints-tree';
import { CommandFailures, registerCommands, type CommandContext, type CommandFactory, type CommandFailure } from './command-runner';
import * as commands from './commands';
import { SurgeonConfig } from './config';
import { pushToHubCommand, setHubToken } from './hub-push-command';
import { JobService, type JobState } from './job-service';
import { JobWorker, type WorkerSettings } from './job-worker';
import { exportLora } from './lora-command';
import { LoraPanel } from './lora-panel';
import { ReportPanel } from './report-panel';
import { ReportStore } from './report-store';
import { SafetensorsEditorProvider } from './safetensors-editor';
import { VerifyPanel } from './verify-panel';

export interface CheckpointSurgeonApi {
  jobState(): JobState;
  onDidChangeJobState: vscode.Event<JobState>;
  cancelAll(): void;
  openReports(): ReadonlyArray<{ title: string; hasReport: boolean }>;
  /** The open Verify result views, with the page each shows. */
  openVerifyViews(): ReadonlyArray<{ title: string; ok: boolean; html: string }>;
  /** The open LoRA adapter views, with the adapter folder and the page each shows. */
  openLoraViews(): ReadonlyArray<{ title: string; out: string; html: string }>;
  /** The Checkpoints view re-listed, with every header read finished. */
  checkpointTree(): Promise<CheckpointTreeEntry[]>;
  /**
   * Why the last command that ended without a result did so (a refusal, a failure, a cancel), as it
   * was shown; commands resolve to undefined then instead of rejecting.
   */
  lastFailure(): CommandFailure | undefined;
  onDidFailCommand: vscode.Event<CommandFailure>;
}

/** Every command the extension contributes, by id. */
function createCommands(): Record<string, CommandFactory> {
  return {
    'checkpointSurgeon.computeResidual': commands.computeResidual,
    'checkpointSurgeon.applyResidual': commands.applyResidual,
    'checkpointSurgeon.compare': commands.compare,
    'checkpointSurgeon.inspect': commands.inspect,
    'checkpointSurgeon.verify': commands.verify,
    'checkpointSurgeon.writeModelCard': commands.writeModelCard,
    'checkpointSurgeon.exportLora': exportLora,
    'checkpointSurgeon.openReport': commands.openReport,
    'checkpointSurgeon.cancelJob': commands.cancelJob,
    'checkpointSurgeon.showLog': commands.showLog,
    'checkpointSurgeon.explorer.computeAsBase': commands.explorerComputeAsBase,
    'checkpointSurgeon.explorer.computeAsInstruct': commands.explorerComputeAsInstruct,
    'checkpointSurgeon.explorer.applyTo': commands.explorerApplyTo,
    'checkpointSurgeon.explorer.compareWith': commands.explorerCompareWith,
    'checkpointSurgeon.explorer.inspect': commands.explorerInspect,
    'checkpointSurgeon.explorer.compareSelected': commands.explorerCompareSelected,
    'checkpointSurgeon.explorer.computeSelected': commands.explorerComputeSelected,
    'checkpointSurgeon.pushToHub': pushToHubCommand,
    'checkpointSurgeon.setHubToken': setHubToken,
    ...checkpointsViewCommands,
  };
}

export function activate(context: vscode.ExtensionContext): CheckpointSurgeonApi {
  const log = vscode.window.createOutputChannel('Checkpoint Surgeon', { log: true });
  const config = new SurgeonConfig();
  const worker = new JobWorker(join(context.extensionPath, 'dist', 'worker.js'), workerSettings(config), log);
  const jobs = new JobService(worker, log);
  const finder = new CheckpointFinder();
  const reports = new ReportStore(context);
  const checkpoints = new CheckpointsTreeProvider(finder, jobs);
  const failures = new CommandFailures();
  const ctx: CommandContext = { jobs, finder, config, reports, log, secrets: context.secrets, checkpoints, failures };

  context.subscriptions.push(
    log, worker, jobs, finder, failures,
    ...registerCommands(createCommands(), ctx),
    checkpoints, createCheckpointsView(checkpoints),
    ReportPanel.register(context, {
      log,
      applyResidual: (residual) => vscode.commands.executeCommand('checkpointSurgeon.applyResidual', { residual }),
      writeModelCard: (dir) => vscode.commands.executeCommand('checkpointSurgeon.writeModelCard', { dir }),
      exportLora: (args) => vscode.commands.executeCommand<LoraResult | undefined>('checkpointSurgeon.exportLora', args),
    }),
    SafetensorsEditorProvider.register(jobs),
    // Hovers need no activation event of their own: once the extension is active (a workspace with
    // checkpoints, a command, the view, the viewer, a report), they work in every JSON and YAML file.
    vscode.languages.registerHoverProvider(HOVER_SELECTOR, new CheckpointHoverProvider(jobs, reports)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (SurgeonConfig.affectsWorker(event)) worker.updateSettings(workerSettings(config));
    }),
  );

  return {
    jobState: () => jobs.state,
    onDidChangeJobState: jobs.onDidChangeState,
    cancelAll: () => jobs.cancelAll(),
    openReports: () => ReportPanel.openPanels.map((p) => ({ title: p.title, hasReport: p.report !== undefined })),
    openVerifyViews: () => VerifyPanel.openPanels,
    openLoraViews: () => LoraPanel.openPanels,
    checkpointTree: async () => {
      await checkpoints.refreshAll();
      return checkpoints.entries();
    },
    lastFailure: () => failures.last,
    onDidFailCommand: failures.onDidFail,
  };
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

function workerSettings(config: SurgeonConfig): WorkerSettings {
  return { computeBackend: config.computeBackend, threads: config.workerThreads };
}
