import { SurgeonError, type RefusalRule } from '../errors';
import type { PlanIssue } from '../../shared/jobs';
import type { DiffReport } from '../../shared/report';

/**
 * The dry run's refusal: every problem it found, before any tensor data was read. The message
 * lists them all, so one run tells the user everything to fix.
 */
export class PlanRefusal extends SurgeonError {
  constructor(readonly issues: PlanIssue[], readonly report?: DiffReport) {
    const errors = issues.filter((issue) => issue.severity === 'error');
    const first = errors[0];
    super(
      (first?.rule ?? 'usage') as RefusalRule,
      `the dry run found ${errors.length} problem${errors.length === 1 ? '' : 's'}; nothing was written:\n`
        + errors.map((issue) => `  - ${issue.message} [${issue.rule}]`).join('\n'),
      first?.file,
      errors.length === 1 ? first?.tensor : undefined,
      { rulesInDetail: true },
    );
  }
}

/** Throws the refusal when any issue is an error; `report` is built only then. */
export function refuseOnErrors(issues: PlanIssue[], report?: () => DiffReport): void {
  if (issues.some((issue) => issue.severity === 'error')) throw new PlanRefusal(issues, report?.());
}
