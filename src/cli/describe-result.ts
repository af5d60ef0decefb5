import type { JobResult, PlanIssue } from '../shared/jobs';
import type { DiffReport } from '../shared/report';
import { formatBytes, formatCount } from '../shared/quantities';

const MISMATCHES_LISTED = 20;

/** The human-readable summary printed without --json. */
export function describeResult(result: JobResult): string {
  switch (result.kind) {
    case 'dry-run': return [
      `Dry run of ${result.operation}: the plan holds (${result.tensors} tensors, ${formatCount(result.parameters)} parameters) in ${(result.seconds * 1000).toFixed(0)} ms; nothing was written.`,
      ...issueLines(result.issues),
      `  would write ${result.out}: ${result.files.map((file) => `${file.file} (${formatBytes(file.bytes)})`).join(', ')}`,
    ].join('\n');
    case 'compute': return [
      `Residual written to ${result.out} (${result.tensors} tensors, ${formatCount(result.parameters)} parameters, ${result.dtype}) in ${result.seconds.toFixed(2)} s.`,
      `  dtype: ${result.dtypeReason}`,
      ...issueLines(result.issues),
      ...result.vocabularyGrowth.map((growth) => `  vocabulary: ${growth.tensor} grew from ${growth.fromRows} to ${growth.toRows} rows${growth.addedTokens.length ? ` (${growth.addedTokens.slice(0, 8).map((token) => JSON.stringify(token.content)).join(', ')}${growth.addedTokens.length > 8 ? ', ...' : ''})` : ''}`),
      `  global relative norm: ${formatNumber(result.report.summary.globalRelativeNorm)}`,
      ...result.report.summary.mostChanged.slice(0, 5).map((tensor) => `  ${formatNumber(tensor.relativeNorm)}  ${tensor.name}`),
    ].join('\n');
    case 'apply': return [
      `Model written to ${result.out} (scale ${result.scale}; ${result.applied.length} tensors changed, ${result.copiedUnchanged.length} copied unchanged) in ${result.seconds.toFixed(2)} s.`,
      ...issueLines(result.issues),
    ].join('\n');
    case 'verify': {
      const mismatched = result.tensors.filter((tensor) => tensor.identical + tensor.signedZeroOnly !== tensor.elements);
      return [
        `${result.ok ? 'OK' : 'MISMATCH'}: ${formatCount(result.identical)} of ${formatCount(result.elements)} elements bit-identical`
          + ` (${(result.elements ? (100 * result.identical) / result.elements : 100).toFixed(4)}%), max abs error ${formatNumber(result.maxAbsError)}.`,
        ...result.signedZeroOnly > 0
          ? [`  ${formatCount(result.signedZeroOnly)} more differ only in the sign of zero (+0 against -0): the same value, not a mismatch`]
          : [],
        // The warnings explain the list (a residual too narrow to be exact, and the --dtype that is): read first.
        ...issueLines(result.issues),
        ...mismatched.slice(0, MISMATCHES_LISTED).map((tensor) => `  ${tensor.name}: ${tensor.identical}/${tensor.elements} identical`
          + `${tensor.signedZeroOnly > 0 ? ` (${tensor.signedZeroOnly} more differ only in the sign of zero)` : ''}, max abs error ${formatNumber(tensor.maxAbsError)}`),
        ...mismatched.length > MISMATCHES_LISTED ? [`  ... and ${mismatched.length - MISMATCHES_LISTED} more mismatching tensors (--json lists them all)`] : [],
      ].join('\n');
    }
    case 'diff': {
      const { summary, tokenizer, config } = result.report;
      return [
        `${Object.entries(summary.counts).filter(([, count]) => count > 0).map(([status, count]) => `${count} ${status}`).join(', ')}; global relative norm ${formatNumber(summary.globalRelativeNorm)}.`,
        ...summary.mostChanged.map((tensor) => `  ${formatNumber(tensor.relativeNorm)}  ${tensor.name}`),
        ...result.report.tensors.filter((tensor) => tensor.status === 'shape-mismatch').map((tensor) => `  shape mismatch: ${tensor.name} [${tensor.a?.shape.join(', ')}] vs [${tensor.b?.shape.join(', ')}]`),
        ...(config ? [`config: ${config.verdict}${config.reasons.length ? ` (${config.reasons.join('; ')})` : ''}`] : []),
        ...spectraLines(result.report),
        ...(tokenizer ? [`tokenizer: vocabulary ${tokenizer.vocabSize.a} -> ${tokenizer.vocabSize.b}, ${tokenizer.addedTokens.onlyInB.length} tokens added, chat template ${tokenizer.chatTemplate.changed ? 'changed' : 'unchanged'}`] : []),
      ].join('\n');
    }
    case 'inspect': return [
      `${result.path}: ${result.architecture ?? result.modelType ?? 'unknown architecture'}, ${result.tensors.length} tensors, ${formatCount(result.parameters)} parameters, ${formatBytes(result.bytes)} in ${result.shards.length} file(s).`,
      `  dtypes: ${Object.entries(result.dtypes).map(([dtype, count]) => `${dtype} ${formatCount(count)}`).join(', ')}`,
      ...(result.tokenizer ? [`  tokenizer: vocabulary ${result.tokenizer.vocabSize ?? 'unknown'}, ${result.tokenizer.addedTokens} added tokens, ${result.tokenizer.hasChatTemplate ? 'a' : 'no'} chat template`] : []),
    ].join('\n');
    case 'card': return `Model card written to ${result.path}.`;
    case 'pull': return `${result.repo}@${result.revision} (${result.commit.slice(0, 12)}) is in the cache at ${result.path} (${formatBytes(result.bytesDownloaded)} downloaded).`;
    case 'push': return `Pushed ${result.files.length} files (${formatBytes(result.bytes)}) to ${result.url}${result.created ? ' (new private repo)' : ''}.`;
    case 'cache': return result.models.length === 0
      ? `No models in the Hugging Face cache (${result.cacheDir}).`
      : result.models.map((model) => `${model.repo}  ${formatBytes(model.sizeOnDisk)}  ${model.revisions.map((revision) => `${revision.refs.join(',') || revision.commit.slice(0, 12)}`).join(' ')}`).join('\n');
  }
}

/**
 * One line per matrix with a spectrum: effective rank and the energy in the 8 and 64 leading
 * directions, and in 256 where some matrix has it (--spectra-rank 256).
 */
function spectraLines(report: DiffReport): string[] {
  const matrices = report.tensors.filter((tensor) => tensor.spectra !== undefined);
  if (report.spectraProvider === undefined) return [];
  const ranks: Array<8 | 64 | 256> = matrices.some((tensor) => tensor.spectra!.energyAtRank[256] !== null) ? [8, 64, 256] : [8, 64];
  return [
    `${report.spectraProvider}: ${matrices.length} matrices; effective rank, energy at rank ${ranks.join(' / ')}`,
    ...matrices.map((tensor) => {
      const shares = ranks.map((rank) => formatShare(tensor.spectra!.energyAtRank[rank])).join(' / ');
      return `  ${formatNumber(tensor.spectra!.effectiveRank).padStart(9)}  ${shares}  ${tensor.name}`;
    }),
  ];
}

function formatShare(share: number | null): string {
  return share === null ? '   n/a' : `${(share * 100).toFixed(1)}%`.padStart(6);
}

function issueLines(issues: readonly PlanIssue[]): string[] {
  return issues.filter((issue) => issue.severity !== 'info').map((issue) => `  ${issue.severity}: ${issue.message}`);
}

function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return 'n/a';
  return value === 0 ? '0' : Math.abs(value) >= 1e-3 && Math.abs(value) < 1e6 ? value.toPrecision(4) : value.toExponential(3);
}
