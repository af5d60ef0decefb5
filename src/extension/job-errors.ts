/**
 * Shows a failed job as one readable message. A refusal from the dry run (the engine's rule, the
 * tensor, the issue list) gets a button that opens the comparison report selected at the problem; the
 * tab's Retry runs the job again with the same arguments, once the user fixed the cause.
 */
import * as vscode from 'vscode';
import type { RetryJob } from './command-runner';
import { JobError } from './job-worker';
import { ReportPanel } from './report-panel';

const SHOW_IN_REPORT = 'Show in Report';
const SHOW_LOG = 'Show Log';

export interface ProblemLocation {
  /** The two checkpoints the report compares. */
  a: string;
  b: string;
}

function describeJobError(error: unknown): string {
  if (error instanceof JobError) {
    const errors = error.issues?.filter((issue) => issue.severity === 'error') ?? [];
    if (errors.length > 1) return `${error.message} (${errors.length} problems; see the log)`;
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The tensor a refusal is about, from the error itself or its first error-level issue. */
function problemTensor(error: unknown): string | undefined {
  if (!(error instanceof JobError)) return undefined;
  return error.tensor ?? error.issues?.find((issue) => issue.severity === 'error' && issue.tensor !== undefined)?.tensor;
}

export async function showJobError(
  title: string, error: unknown, log: vscode.LogOutputChannel, location?: ProblemLocation, retry?: RetryJob,
): Promise<void> {
  if (error instanceof JobError && error.cancelled) {
    void vscode.window.showInformationMessage(`${title} was cancelled; no output was left behind.`);
    return;
  }
  const tensor = problemTensor(error);
  const report = error instanceof JobError ? error.report : undefined;
  // The dry run's own report opens at once; without one, a comparison of the inputs is run.
  const canShow = report !== undefined || (location !== undefined && tensor !== undefined);
  const choice = await vscode.window.showErrorMessage(`${title}: ${describeJobError(error)}`, ...(canShow ? [SHOW_IN_REPORT, SHOW_LOG] : [SHOW_LOG]));
  if (choice === SHOW_LOG) log.show(true);
  if (choice !== SHOW_IN_REPORT) return;
  if (report !== undefined) {
    const panel = ReportPanel.show(report, { title: `${title}: problems` });
    // The tab says that the job was refused and why, above the report of what the dry run found;
    // its Retry runs the refused job again with the arguments it had.
    panel.fail(error instanceof Error ? error.message : String(error), false, error instanceof JobError ? error.rule : undefined,
      retry === undefined ? undefined : { title, run: retry });
    if (tensor !== undefined) panel.selectTensor(tensor);
  } else if (location !== undefined && tensor !== undefined) {
    await vscode.commands.executeCommand('checkpointSurgeon.compare', { a: location.a, b: location.b, select: tensor });
  }
}
