/** What the view says about a run that failed or was cancelled, and about the report it left. Pure. */
import { formatCount } from '../src/shared/quantities';
import type { FailedMessage } from '../src/shared/webview-protocol';

/** The rule the engine's refusals end with (`... [shape-mismatch]`, src/engine/errors.ts). */
const TRAILING_RULE = /\s*\[([a-z][a-z0-9-]*)\]\s*$/u;
/** The rule of a cancelled job (src/extension/job-worker.ts cancelledError). */
const CANCELLED_RULE = 'cancelled';

export interface FailureView {
  cancelled: boolean;
  title: string;
  /** The refusal's rule, apart from the message; null for a cancellation or an error without one. */
  rule: string | null;
  /** The message without its trailing rule. */
  message: string;
  /** How far the run got: what the tensors the view still shows are. */
  progress: string;
}

/**
 * `refused`: the failure came with a finished report instead of a live run, which is how a job's dry
 * run refuses it (src/extension/job-errors.ts): the report is what the dry run found, no tensor data was
 * read, and nothing was written.
 */
export function describeFailure(failure: Omit<FailedMessage, 'type'>, compared: number, total: number, refused = false): FailureView {
  const trailing = TRAILING_RULE.exec(failure.message);
  const rule = failure.rule ?? trailing?.[1] ?? null;
  let message = (trailing === null ? failure.message : failure.message.slice(0, trailing.index)).trim();
  // A refusal listing several problems ends each line with its rule; the rule is shown apart.
  if (rule !== null) {
    const tag = `[${rule}]`;
    message = message.split('\n').map((line) => (line.trimEnd().endsWith(tag) ? line.trimEnd().slice(0, -tag.length).trimEnd() : line)).join('\n');
  }
  const cancelled = failure.cancelled || rule === CANCELLED_RULE;
  const of = total > 0 ? ` of ${formatCount(total)}` : '';
  if (refused && !cancelled) {
    return {
      cancelled,
      title: 'The job was refused',
      rule,
      message: message === '' ? 'The job was refused without a message.' : message,
      progress: 'Its dry run found the problems before any tensor data was read, and nothing was written. Below is what it found; fix the cause, then Retry.',
    };
  }
  return {
    cancelled,
    title: cancelled ? 'The comparison was cancelled' : 'The comparison failed',
    rule: cancelled ? null : rule,
    message: message === '' ? (cancelled ? 'The job was cancelled.' : 'The job stopped without a message.') : message,
    progress: compared === 0
      ? 'No tensor was compared before it stopped, so there is nothing to show.'
      : `${formatCount(compared)}${of} tensors were compared before it stopped; below are those alone, not the whole checkpoint.`,
  };
}

/**
 * What an empty section says while the report is incomplete: a live run that goes on, or one that
 * stopped, must not claim "every tensor" of the checkpoint.
 */
export interface Completeness {
  /** Tensors in the view, and in the checkpoints (0 when not known). */
  compared: number;
  total: number;
  state: 'complete' | 'running' | 'stopped';
}

/** The mismatch section's empty state, true to how much of the checkpoints was compared. */
export function noMismatchText(completeness: Completeness): string {
  const { compared, total, state } = completeness;
  if (state === 'complete') return 'Every tensor has the same name, shape and dtype on both sides.';
  if (compared === 0) return state === 'running' ? 'No tensor compared yet.' : 'No tensor was compared.';
  const of = total > 0 ? ` of ${formatCount(total)}` : '';
  return state === 'running'
    ? `No mismatch among the ${formatCount(compared)}${of} tensors compared so far.`
    : `No mismatch among the ${formatCount(compared)}${of} tensors compared before the run stopped; the others were not compared.`;
}
