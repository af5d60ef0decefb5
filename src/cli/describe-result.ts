import type { JobResult, PlanIssue } from '../shared/jobs';
import { formatBytes, formatCount, formatParameters, formatStatistic } from '../shared/quantities';
import { DEFAULT_SPECTRA_TOP, describeDiff } from './describe/diff-text';
import { describeInspect } from './describe/inspect-text';
import { describeLora } from './describe/lora-text';
import { countOf, textTable } from './text-table';

const MISMATCHES_LISTED = 20;

export interface DescribeOptions {
  /** inspect: every tensor on its own line, also for big models; lora: every matrix. */
  all?: boolean;
  /** diff --spectra: matrices listed, largest delta first; 0 lists all. */
  top?: number;
}

/** The human-readable summary printed without --json. */
export function describeResult(result: JobResult, options: DescribeOptions = {}): string {
  switch (result.kind) {
    case 'dry-run': return [
      `Dry run of ${result.operation}: the plan holds (${countOf(result.tensors, 'tensor')}, ${formatParameters(result.parameters)} parameters) in ${(result.seconds * 1000).toFixed(0)} ms; nothing was written.`,
      ...issueLines(result.issues),
      `  would write ${result.out}:`,
      ...textTable([{ header: 'file' }, { header: 'size', align: 'right' }], result.files.map((file) => [file.file, file.bytes === undefined ? '' : formatBytes(file.bytes)]), '    '),
    ].join('\n');
    case 'compute': return [
      `Residual written to ${result.out} (${countOf(result.tensors, 'tensor')}, ${formatParameters(result.parameters)} parameters, ${result.dtype}) in ${result.seconds.toFixed(2)} s.`,
      `  dtype: ${result.dtypeReason}`,
      ...issueLines(result.issues),
      ...result.vocabularyGrowth.map((growth) => `  vocabulary: ${growth.tensor} grew from ${growth.fromRows} to ${growth.toRows} rows${growth.addedTokens.length ? ` (${growth.addedTokens.slice(0, 8).map((token) => JSON.stringify(token.content)).join(', ')}${growth.addedTokens.length > 8 ? ', ...' : ''})` : ''}`),
      `  global relative norm: ${formatStatistic(result.report.summary.globalRelativeNorm)}`,
      ...textTable([{ header: 'relative norm', align: 'right' }, { header: 'most changed tensor' }],
        result.report.summary.mostChanged.slice(0, 5).map((tensor) => [formatStatistic(tensor.relativeNorm), tensor.name])),
    ].join('\n');
    case 'apply': return [
      `Model written to ${result.out} (scale ${result.scale}; ${countOf(result.applied.length, 'tensor')} changed, ${formatCount(result.copiedUnchanged.length)} copied unchanged${result.skipped.length > 0 ? `, ${formatCount(result.skipped.length)} skipped (--force)` : ''}) in ${result.seconds.toFixed(2)} s.`,
      ...(result.lora ? [`  a LoRA adapter: ${countOf(result.lora.modules.length, 'module')} merged as W + ${result.scale} * scaling * (B @ A) (ranks ${[...new Set(result.lora.modules.map((module) => module.rank))].sort((x, y) => x - y).join(', ')})`
        + `${result.lora.replaced.length > 0 ? `, ${countOf(result.lora.replaced.length, 'tensor')} replaced by the adapter's own` : ''}`] : []),
      ...issueLines(result.issues),
    ].join('\n');
    case 'verify': {
      const mismatched = result.tensors.filter((tensor) => tensor.identical + tensor.signedZeroOnly !== tensor.elements);
      return [
        `${result.ok ? 'OK' : 'MISMATCH'}: ${formatCount(result.identical)} of ${formatCount(result.elements)} elements bit-identical`
          + ` (${(result.elements ? (100 * result.identical) / result.elements : 100).toFixed(4)}%), max abs error ${formatStatistic(result.maxAbsError)}.`,
        ...result.signedZeroOnly > 0
          ? [`  ${formatCount(result.signedZeroOnly)} more differ only in the sign of zero (+0 against -0): the same value, not a mismatch`]
          : [],
        ...result.dequantized && result.dequantized.length > 0
          ? [`  ${countOf(result.dequantized.length, 'tensor')} compared dequantized (FP8 weights times their scales, in binary32), first ${JSON.stringify(result.dequantized[0])}`]
          : [],
        // The warnings explain the list (a residual too narrow to be exact, and the --dtype that is): read first.
        ...issueLines(result.issues),
        ...(mismatched.length > 0 ? textTable(
          [{ header: 'identical', align: 'right' }, { header: 'of', align: 'right' }, { header: 'signed zero', align: 'right' }, { header: 'max abs error', align: 'right' }, { header: 'mismatching tensor' }],
          mismatched.slice(0, MISMATCHES_LISTED).map((tensor) => [
            formatCount(tensor.identical), formatCount(tensor.elements), formatCount(tensor.signedZeroOnly), formatStatistic(tensor.maxAbsError), tensor.name,
          ]),
        ) : []),
        ...mismatched.length > MISMATCHES_LISTED ? [`  ... and ${mismatched.length - MISMATCHES_LISTED} more mismatching tensors (--json lists them all)`] : [],
      ].join('\n');
    }
    case 'diff': return describeDiff(result, { top: options.top ?? DEFAULT_SPECTRA_TOP }).join('\n');
    case 'inspect': return describeInspect(result, options.all === true).join('\n');
    case 'lora': return describeLora(result, options.all === true).join('\n');
    case 'card': return `Model card written to ${result.path}.`;
    case 'pull': return `${result.repo}@${result.revision} (${result.commit.slice(0, 12)}) is in the cache at ${result.path} (${formatBytes(result.bytesDownloaded)} downloaded).`;
    case 'push': return `Pushed ${countOf(result.files.length, 'file')} (${formatBytes(result.bytes)}) to ${result.url}${result.created ? ' (new private repo)' : ''}.`;
    case 'cache': return result.models.length === 0
      ? `No models in the Hugging Face cache (${result.cacheDir}).`
      : [`${countOf(result.models.length, 'model')} in the Hugging Face cache (${result.cacheDir}):`, ...textTable(
        [{ header: 'model' }, { header: 'size', align: 'right' }, { header: 'revisions' }],
        result.models.map((model) => [model.repo, formatBytes(model.sizeOnDisk), model.revisions.map((revision) => revision.refs.join(',') || revision.commit.slice(0, 12)).join(' ')]),
      )].join('\n');
  }
}

function issueLines(issues: readonly PlanIssue[]): string[] {
  return issues.filter((issue) => issue.severity !== 'info').map((issue) => `  ${issue.severity}: ${issue.message}`);
}
