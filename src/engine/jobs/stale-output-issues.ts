import type { AtomicOutput } from '../io/atomic-output';
import type { PlanIssue } from '../../shared/jobs';

/** Tells the user what an interrupted earlier job had left at this output and this job cleared (warnings, so the CLI prints them). */
export function staleOutputIssues(output: Pick<AtomicOutput, 'target' | 'cleaned' | 'restored'>): PlanIssue[] {
  const issues: PlanIssue[] = [];
  if (output.restored !== undefined) {
    issues.push({
      severity: 'warning', rule: 'output-restored', file: output.target,
      message: `an interrupted job had moved the earlier output aside to ${output.restored}; it was put back before this job replaced it`,
    });
  }
  if (output.cleaned.length > 0) {
    issues.push({
      severity: 'warning', rule: 'stale-output-removed', file: output.target,
      message: `removed what an interrupted job had left behind: ${output.cleaned.join(', ')}`,
    });
  }
  return issues;
}
