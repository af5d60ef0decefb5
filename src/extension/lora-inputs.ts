/**
 * What a LoRA export is made from: a residual folder, or a base and an instruct checkpoint (the job computes
 * R = instruct - base on the fly). A report knows it from what it describes. Pure, so it is unit-tested in Node.
 */
import type { DiffReport } from '../shared/report';

export type LoraInputs = { residual: string } | { base: string; instruct: string };

/**
 * The inputs of an export from a report: the residual folder it describes (a compute's result, a Compare whose
 * second side is a residual), a residual compared alone, or the two checkpoints of a Compare (base = A,
 * instruct = B). A report of one model alone has none.
 */
export function reportLoraInputs(report: Pick<DiffReport, 'a' | 'b' | 'residualOnly'> | undefined, residualPath: string | undefined): LoraInputs | undefined {
  if (residualPath !== undefined) return { residual: residualPath };
  if (report === undefined) return undefined;
  if (report.residualOnly === true) return { residual: report.a.path };
  if (report.b !== undefined) return { base: report.a.path, instruct: report.b.path };
  return undefined;
}
