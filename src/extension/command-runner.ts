/**
 * How every command runs, in the shape of rust-analyzer's VS Code client: each command is a factory
 * that takes the `CommandContext` and returns the function VS Code calls, main.ts keeps the record of
 * factories and registers them in one loop, and `runJobCommand` is the one place a command's failure
 * is handled. A failure is shown once (a refusal, a cancel, bad arguments) and the command's promise
 * resolves to undefined: nothing is rethrown to VS Code, which would add its own modal "Command ...
 * resulted in an error". Tests and other extensions read the last failure through the extension's API.
 */
import * as vscode from 'vscode';
import type { JobKind } from '../shared/jobs';
import type { JobTable } from '../shared/worker-protocol';
import { CommandArgumentError } from './command-args';
import type { CheckpointFinder } from './checkpoint-finder';
import type { CheckpointsTreeProvider } from './checkpoints-tree';
import type { SurgeonConfig } from './config';
import { showJobError, type ProblemLocation } from './job-errors';
import type { JobRunOptions, JobService } from './job-service';
import { JobError } from './job-worker';
import type { ReportStore } from './report-store';
import { UntrustedWorkspaceError } from './workspace-trust';

export interface CommandContext {
  jobs: JobService;
  finder: CheckpointFinder;
  config: SurgeonConfig;
  reports: ReportStore;
  log: vscode.LogOutputChannel;
  secrets: vscode.SecretStorage;
  checkpoints: CheckpointsTreeProvider;
  failures: CommandFailures;
}

/** What VS Code calls: the arguments of the palette (none), a menu (a Uri, a tree item) or a caller. */
export type Cmd = (...args: unknown[]) => Promise<unknown>;
export type CommandFactory = (ctx: CommandContext) => Cmd;

/** Thrown when the user dismisses a prompt; the command then resolves to undefined quietly. */
class Dismissed extends Error {}

/** The value of a prompt, or Dismissed when the user closed it. */
export function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Dismissed();
  return value;
}

/** A command that ended without its result: refused, failed or cancelled. */
export interface CommandFailure {
  command: string;
  message: string;
  /** The engine's rule for its refusals (`output-exists`, `cancelled`, ...). */
  rule?: string;
  cancelled: boolean;
}

export class CommandFailures implements vscode.Disposable {
  private latest: CommandFailure | undefined;
  private readonly emitter = new vscode.EventEmitter<CommandFailure>();
  readonly onDidFail = this.emitter.event;

  get last(): CommandFailure | undefined {
    return this.latest;
  }

  record(command: string, error: unknown): CommandFailure {
    const rule = error instanceof JobError ? error.rule : undefined;
    const failure: CommandFailure = {
      command,
      message: error instanceof Error ? error.message : String(error),
      ...(rule === undefined ? {} : { rule }),
      cancelled: error instanceof JobError && error.cancelled,
    };
    this.latest = failure;
    this.emitter.fire(failure);
    return failure;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

/**
 * Runs a job again with the arguments it failed with (no prompts), as a command does: it resolves to
 * the command's result, or to undefined when it failed again (and showed why).
 */
export type RetryJob = () => Promise<unknown>;

/** What a command says about one of its jobs beside the job's own options. */
export interface JobScopeOptions extends JobRunOptions {
  /** The checkpoints a refusal's report compares. */
  problem?: ProblemLocation;
  /** How the failure's view (a refusal's problems tab) runs the job again once the user fixed the cause. */
  retry?: RetryJob;
}

/** How a command's body runs worker jobs: typed by kind, and remembered so a failure is shown under the job's title. */
export interface JobScope {
  run<K extends JobKind>(kind: K, options: JobTable[K]['options'], run: JobScopeOptions): Promise<JobTable[K]['result']>;
}

/** Shows a failure that is not a refusal of the workspace or of the arguments; the default is `showJobError`. */
export type ShowFailure = (title: string, error: unknown, problem: ProblemLocation | undefined, retry?: RetryJob) => void;

/**
 * Runs a command's body and resolves to its result, or to undefined when a prompt was dismissed or the
 * command failed. A failure is recorded for the API and shown once: an untrusted workspace as a warning,
 * bad arguments as an error, a job's failure or cancel through `show` under the title of the job that
 * was running (`command` before any job started). Never rethrows.
 */
export async function runJobCommand<R>(
  ctx: Pick<CommandContext, 'jobs' | 'log' | 'failures'>, command: string, body: (jobs: JobScope) => Promise<R>, show?: ShowFailure,
): Promise<R | undefined> {
  let title = command;
  let problem: ProblemLocation | undefined;
  let retry: RetryJob | undefined;
  let failedJob: unknown;
  const scope: JobScope = {
    async run(kind, options, { problem: location, retry: again, ...runOptions }) {
      title = runOptions.title;
      problem = location;
      retry = again;
      try {
        return await ctx.jobs.run(kind, options, runOptions);
      } catch (error) {
        failedJob = error;
        throw error;
      }
    },
  };
  try {
    return await body(scope);
  } catch (error) {
    if (error instanceof Dismissed) return undefined;
    const failure = ctx.failures.record(command, error);
    if (error instanceof UntrustedWorkspaceError) {
      ctx.log.warn(failure.message);
      void vscode.window.showWarningMessage(failure.message);
    } else if (error instanceof CommandArgumentError) {
      ctx.log.warn(failure.message);
      void vscode.window.showErrorMessage(failure.message);
    } else {
      // A job's failure is in the log already (JobService); anything else is added here.
      if (error !== failedJob) ctx.log.error(`${title}: ${failure.message}`);
      if (show !== undefined) show(title, error, problem, retry);
      else void showJobError(title, error, ctx.log, problem, retry);
    }
    return undefined;
  }
}

/** Registers the record of command factories: one loop, one context. */
export function registerCommands(factories: Readonly<Record<string, CommandFactory>>, ctx: CommandContext): vscode.Disposable[] {
  return Object.entries(factories).map(([id, factory]) => vscode.commands.registerCommand(id, factory(ctx)));
}
