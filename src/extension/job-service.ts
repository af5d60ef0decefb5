/**
 * Runs jobs for the commands: one heavy job at a time (a second one queues behind it and says so),
 * a cancellable progress notification with percent, throughput and ETA, a status bar item while
 * jobs run or wait, and each job's full record in the log. Header-only jobs (inspect) skip the
 * queue: they read a few kilobytes and must not wait behind an hour-long compute.
 */
import * as vscode from 'vscode';
import type { JobKind, JobProgress } from '../shared/jobs';
import type { TensorReport } from '../shared/report';
import type { JobResult, JobTable } from '../shared/worker-protocol';
import { cancelledError, JobError, type JobWorker } from './job-worker';
import { removePartialOutput, snapshotOutput, type OutputSnapshot } from './partial-output';
import { ProgressMeter, percentOf } from './progress-format';

/** The notification and status bar are updated at most this often. */
const UI_UPDATE_INTERVAL_MS = 250;
const HEADER_ONLY_KINDS: ReadonlySet<JobKind> = new Set(['inspect']);

export interface JobRunOptions {
  title: string;
  /** The folder the job writes; removed again if the job fails and it did not exist before. */
  outputFolder?: string;
  onProgress?(progress: JobProgress): void;
  onTensors?(tensors: TensorReport[]): void;
  /** Set for calls from another extension or a test: no notification, only the status bar. */
  quiet?: boolean;
}

export interface JobState {
  running: string[];
  queued: string[];
}

interface Ticket {
  id: number;
  title: string;
  cancel: vscode.CancellationTokenSource;
  started: boolean;
}

export class JobService implements vscode.Disposable {
  private readonly statusBar: vscode.StatusBarItem;
  private readonly stateEmitter = new vscode.EventEmitter<JobState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private queueTail: Promise<unknown> = Promise.resolve();
  private readonly tickets: Ticket[] = [];
  private nextTicket = 1;
  private statusText = '';

  constructor(private readonly worker: JobWorker, private readonly log: vscode.LogOutputChannel) {
    this.statusBar = vscode.window.createStatusBarItem('checkpointSurgeon.jobs', vscode.StatusBarAlignment.Left, 10);
    this.statusBar.name = 'Checkpoint Surgeon jobs';
    this.statusBar.command = 'checkpointSurgeon.cancelJob';
  }

  get state(): JobState {
    return {
      running: this.tickets.filter((t) => t.started).map((t) => t.title),
      queued: this.tickets.filter((t) => !t.started).map((t) => t.title),
    };
  }

  /** Cancels the running heavy job (the status bar item's action). Returns false when none runs. */
  cancelRunning(): boolean {
    const ticket = this.tickets.find((t) => t.started);
    ticket?.cancel.cancel();
    return ticket !== undefined;
  }

  cancelAll(): void {
    for (const ticket of this.tickets) ticket.cancel.cancel();
  }

  /** Runs a job of `kind`, queued behind the running heavy job unless it reads headers only. */
  async run<K extends JobKind>(kind: K, jobOptions: JobTable[K]['options'], options: JobRunOptions): Promise<JobTable[K]['result']> {
    if (HEADER_ONLY_KINDS.has(kind)) return this.execute(kind, jobOptions, options, undefined);
    const ticket: Ticket = { id: this.nextTicket++, title: options.title, cancel: new vscode.CancellationTokenSource(), started: false };
    const ahead = this.tickets.find((t) => t.started) ?? this.tickets[0];
    this.tickets.push(ticket);
    if (ahead !== undefined) {
      const message = `"${ticket.title}" is queued behind "${ahead.title}" and starts when it finishes.`;
      this.log.info(message);
      if (!options.quiet) void vscode.window.showInformationMessage(message);
    }
    this.refreshStatus();
    const turn = this.queueTail.then(async () => {
      ticket.started = true;
      this.refreshStatus();
      try {
        if (ticket.cancel.token.isCancellationRequested) throw cancelledError();
        return await this.execute(kind, jobOptions, options, ticket);
      } finally {
        this.tickets.splice(this.tickets.indexOf(ticket), 1);
        ticket.cancel.dispose();
        this.refreshStatus();
      }
    });
    this.queueTail = turn.catch(() => undefined);
    return turn;
  }

  private async execute<K extends JobKind>(
    kind: K, jobOptions: JobTable[K]['options'], options: JobRunOptions, ticket: Ticket | undefined,
  ): Promise<JobTable[K]['result']> {
    const started = Date.now();
    this.log.info(`[${options.title}] started: ${kind} ${JSON.stringify(jobOptions)}`);
    const snapshot: OutputSnapshot | undefined = options.outputFolder ? await snapshotOutput(options.outputFolder) : undefined;
    const meter = new ProgressMeter();
    let lastPhase: string | undefined;
    let lastUiAt = 0;
    let reportLine: ((line: string, increment: number) => void) | undefined;
    let lastPercent = 0;
    const onProgress = (progress: JobProgress): void => {
      options.onProgress?.(progress);
      if (progress.phase !== lastPhase) {
        lastPhase = progress.phase;
        this.log.info(`[${options.title}] ${progress.phase}: ${progress.tensorsTotal} tensors, ${progress.bytesTotal} bytes`);
      }
      const line = meter.update(progress);
      const now = Date.now();
      if (now - lastUiAt < UI_UPDATE_INTERVAL_MS) return;
      lastUiAt = now;
      const percent = percentOf(progress);
      reportLine?.(line, Math.max(0, percent - lastPercent));
      lastPercent = Math.max(lastPercent, percent);
      if (ticket !== undefined) {
        this.statusText = `${options.title}: ${line}`;
        this.refreshStatus();
      }
    };
    const work = (token: vscode.CancellationToken | undefined): Promise<JobTable[K]['result']> =>
      this.worker.run(kind, jobOptions, { onProgress, ...(options.onTensors ? { onTensors: options.onTensors } : {}) }, token);

    try {
      let result: JobTable[K]['result'];
      if (ticket === undefined || options.quiet) {
        result = await work(ticket?.cancel.token);
      } else {
        result = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Checkpoint Surgeon: ${options.title}`, cancellable: true },
          (progress, token) => {
            reportLine = (message, increment) => progress.report({ message, increment });
            const forward = token.onCancellationRequested(() => ticket.cancel.cancel());
            return work(ticket.cancel.token).finally(() => forward.dispose());
          },
        );
      }
      this.log.info(`[${options.title}] finished in ${((Date.now() - started) / 1000).toFixed(2)} s: ${JSON.stringify(summarize(result))}`);
      return result;
    } catch (error) {
      const cancelled = error instanceof JobError && error.cancelled;
      this.log.error(`[${options.title}] ${cancelled ? 'cancelled' : 'failed'} after ${((Date.now() - started) / 1000).toFixed(2)} s: ${error instanceof Error ? error.message : String(error)}`);
      if (error instanceof JobError && error.issues?.length) {
        for (const issue of error.issues) this.log.error(`  ${issue.severity} [${issue.rule}] ${issue.tensor ?? ''} ${issue.message}`);
      }
      if (snapshot !== undefined) {
        const removed = await removePartialOutput(snapshot);
        for (const path of removed) this.log.info(`[${options.title}] removed partial output ${path}`);
      }
      throw error;
    } finally {
      if (ticket !== undefined) this.statusText = '';
    }
  }

  private refreshStatus(): void {
    const state = this.state;
    this.stateEmitter.fire(state);
    if (state.running.length === 0 && state.queued.length === 0) {
      this.statusBar.hide();
      return;
    }
    const running = state.running[0];
    this.statusBar.text = `$(sync~spin) ${this.statusText || (running ?? 'Waiting')}${state.queued.length ? ` (+${state.queued.length} queued)` : ''}`;
    this.statusBar.tooltip = [
      running ? `Running: ${running}` : undefined,
      ...state.queued.map((title) => `Queued: ${title}`),
      'Click to cancel the running job.',
    ].filter((line): line is string => line !== undefined).join('\n');
    this.statusBar.show();
  }

  dispose(): void {
    this.cancelAll();
    this.statusBar.dispose();
    this.stateEmitter.dispose();
  }
}

/** The result for the log: everything but the per-tensor arrays, which can run to megabytes. */
function summarize(result: JobResult): unknown {
  return JSON.parse(JSON.stringify(result, (key, value: unknown) => {
    if ((key === 'tensors' || key === 'layers') && Array.isArray(value)) return `[${value.length} entries]`;
    return value;
  }));
}
