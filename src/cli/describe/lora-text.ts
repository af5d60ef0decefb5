import type { LoraLeftOut, LoraResult } from '../../shared/jobs';
import { leftOutGroups, rankRangeWords } from '../../shared/lora-text';
import { formatBytes, formatCount, formatPercent, formatStatistic } from '../../shared/quantities';
import { countOf, textTable } from '../text-table';

/** Matrices listed without --all: the worst reconstructed first, so what the rank choice costs is in sight. */
const DEFAULT_LORA_ROWS = 20;

const LEFT_OUT_WORDS: Readonly<Record<LoraLeftOut['reason'], string>> = {
  'not-a-matrix': '1-D or not a matrix',
  embedding: 'embedding or head (--embeddings lora factors them)',
  'vocabulary-growth': 'grown vocabulary (an adapter cannot add rows)',
  unchanged: 'unchanged',
  'too-large': 'too large for one SVD in memory',
  'not-float': 'not floating point',
};

/** `lora`'s summary: what was written, how much of the residual it carries, what it leaves out, and the matrices. */
export function describeLora(result: LoraResult, all: boolean): string[] {
  const rankRange = rankRangeWords(result.matrices.map((matrix) => matrix.rank));
  const worst = [...result.matrices].sort((x, y) => y.relativeError - x.relativeError);
  const shown = all ? worst : worst.slice(0, DEFAULT_LORA_ROWS);
  const leftOut = leftOutGroups(result.leftOut);
  return [
    `LoRA adapter written to ${result.out} (${countOf(result.matrices.length, 'matrix', 'matrices')}, ${rankRange}, ${result.dtype}) in ${result.seconds.toFixed(2)} s.`,
    `  size: ${formatBytes(result.adapterBytes)}, ${formatPercent(result.fullResidualBytes > 0 ? result.adapterBytes / result.fullResidualBytes : null)} of the full residual (${formatBytes(result.fullResidualBytes)})`,
    `  energy carried: ${formatPercent(result.capturedEnergyShare)} of the residual's; left out: ${formatPercent(result.leftOutEnergyShare)}`,
    `  SVDs on ${result.backend}`,
    ...result.issues.filter((issue) => issue.severity !== 'info' || issue.rule === 'mixed-ranks').map((issue) => `  ${issue.severity}: ${issue.message}`),
    ...(leftOut.length > 0 ? textTable(
      [{ header: 'left out' }, { header: 'tensors', align: 'right' }, { header: 'energy', align: 'right' }],
      leftOut.map((group) => [LEFT_OUT_WORDS[group.reason], formatCount(group.tensors), formatPercent(group.energyShare)]),
    ) : []),
    ...textTable(
      [{ header: 'rank', align: 'right' }, { header: 'energy', align: 'right' }, { header: 'rel. error', align: 'right' }, { header: 'module' }],
      shown.map((matrix) => [String(matrix.rank), formatPercent(matrix.energy), formatStatistic(matrix.relativeError), matrix.module]),
    ),
    ...(shown.length < worst.length ? [`  ... and ${formatCount(worst.length - shown.length)} more matrices, better reconstructed (--all lists them, --json gives every value)`] : []),
  ];
}
