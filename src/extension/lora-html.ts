/**
 * The LoRA adapter view: where the adapter went, its size against the full residual, how much of the residual's
 * energy it carries and what it leaves out (by reason), the backend, the issues, and per matrix the rank, the
 * energy carried and the relative Frobenius error, the worst reconstructed first. Rendered on the host; every
 * string is escaped, and the page's one script (by nonce) only posts which button was pressed.
 */
import type { LoraLeftOut, LoraMatrix, LoraResult, PlanIssue } from '../shared/jobs';
import { leftOutGroups } from '../shared/lora-text';
import {
  formatBytes, formatCount, formatPercent, formatPercentColumn, formatShape, statisticColumnFormat,
} from '../shared/quantities';
import { escapeHtml } from './inspect-html';
import type { LoraInputs } from './lora-inputs';
import { editorAdvice } from './prompt-checks';
import { PANEL_BASE_CSS } from './panel-styles';

/** The view lists at most this many matrices, the worst reconstructed first. */
const MAX_TABLE_ROWS = 5_000;

/** The buttons' messages to the panel (lora-panel.ts). */
export type LoraViewAction = 'openModelCard' | 'reveal';

const LEFT_OUT_WORDS: Readonly<Record<LoraLeftOut['reason'], string>> = {
  'not-a-matrix': '1-D deltas (norms, biases) and tensors that are not matrices',
  embedding: 'embedding and head deltas',
  'vocabulary-growth': 'grown vocabulary rows (an adapter cannot add token rows)',
  unchanged: 'unchanged matrices',
  'too-large': 'matrices too large for one SVD in memory',
  'not-float': 'tensors that are not floating point',
};

/** The engine's note on mixed ranks names a CLI flag; the view says the same in the editor's words. */
const MIXED_RANKS_WORDS = 'The ranks differ between modules (rank_pattern, alpha_pattern). PEFT and vLLM load the adapter as it is; '
  + 'llama.cpp reads one lora_alpha and ignores alpha_pattern, so for llama.cpp export with one rank for every matrix.';

/** The matrices as the view lists them: the largest relative error first, then by module. */
export function loraMatrixRows(matrices: readonly LoraMatrix[]): LoraMatrix[] {
  return [...matrices].sort((x, y) => y.relativeError - x.relativeError || (x.module < y.module ? -1 : x.module > y.module ? 1 : 0));
}

/** The ranks written, in words: `16 for every matrix`, `3 to 128 (95% of each matrix's energy, at most 128)`. */
export function rankWords(result: Pick<LoraResult, 'ranks' | 'matrices'>): string {
  const ranks = result.matrices.map((matrix) => matrix.rank);
  const low = Math.min(...ranks);
  const high = Math.max(...ranks);
  const written = low === high ? `${formatCount(low)} for every matrix` : `${formatCount(low)} to ${formatCount(high)}`;
  return 'rank' in result.ranks ? written : `${written} (${formatPercent(result.ranks.energy)} of each matrix's energy, at most ${formatCount(result.ranks.maxRank)})`;
}

/** The issues worth the user's eye: warnings, and the note that the ranks differ (the others are the dry run's notes). */
function shownIssues(issues: readonly PlanIssue[]): Array<{ severity: string; rule: string; text: string }> {
  return issues.filter((issue) => issue.severity !== 'info' || issue.rule === 'mixed-ranks')
    .map((issue) => ({ severity: issue.severity, rule: issue.rule, text: issue.rule === 'mixed-ranks' ? MIXED_RANKS_WORDS : editorAdvice(issue.message) }));
}

/** A module name that wraps after its dots, never inside a component. */
function nameHtml(name: string): string {
  return name.split(/(?<=\.)/u).map(escapeHtml).join('<wbr>');
}

export function loraHtml(result: LoraResult, inputs: LoraInputs, nonce: string): string {
  const e = escapeHtml;
  const sizeShare = result.fullResidualBytes > 0 ? result.adapterBytes / result.fullResidualBytes : null;
  const summary: Array<[string, string]> = [
    ['Adapter folder', result.out],
    ...('residual' in inputs ? [['Residual', inputs.residual] as [string, string]]
      : [['Base', inputs.base] as [string, string], ['Instruct', inputs.instruct] as [string, string]]),
    ['Ranks', rankWords(result)],
    ['Size', `${formatBytes(result.adapterBytes)}: ${formatPercent(sizeShare)} of the full residual (${formatBytes(result.fullResidualBytes)})`],
    ['Energy carried', `${formatPercent(result.capturedEnergyShare)} of the residual's squared Frobenius norm`],
    ['Energy left out', formatPercent(result.leftOutEnergyShare)],
    ['Factors', result.dtype],
    ['SVDs on', result.backend],
    ['Time', `${result.seconds.toFixed(2)} s`],
  ];
  const issues = shownIssues(result.issues).map((issue) =>
    `<li class="issue ${e(issue.severity)}" data-rule="${e(issue.rule)}"><span class="rule">${e(issue.rule)}</span> ${e(issue.text)}</li>`);
  const groups = leftOutGroups(result.leftOut).map((group) =>
    `<tr data-reason="${e(group.reason)}"><td>${e(LEFT_OUT_WORDS[group.reason])}</td><td class="num">${formatCount(group.tensors)}</td><td class="num">${formatPercentColumn(group.energyShare)}</td></tr>`);
  const rows = loraMatrixRows(result.matrices);
  const shown = rows.slice(0, MAX_TABLE_ROWS);
  // One format per column, chosen from the column's values.
  const error = statisticColumnFormat(shown.map((matrix) => matrix.relativeError));
  const matrixRows = shown.map((matrix) => `<tr><td class="name">${nameHtml(matrix.module)}</td><td class="nowrap">${formatShape(matrix.shape)}</td>`
    + `<td class="num">${formatCount(matrix.rank)}</td><td class="num">${formatPercentColumn(matrix.energy)}</td><td class="num">${e(error(matrix.relativeError))}</td></tr>`);
  const cut = rows.length > shown.length
    ? `<p class="note">Showing ${formatCount(shown.length)} of ${formatCount(rows.length)} matrices, the worst reconstructed first.</p>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'">
<title>LoRA adapter ${e(result.out)}</title>
<style nonce="${nonce}">
${PANEL_BASE_CSS}
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.name { font-family: var(--vscode-editor-font-family); overflow-wrap: break-word; }
table.summary th { border-bottom: none; padding-right: 16px; }
table.summary td { overflow-wrap: anywhere; }
.actions { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0 12px; }
button { font: inherit; padding: 4px 12px; border: 1px solid var(--vscode-button-border, transparent); border-radius: 2px; cursor: pointer;
  color: var(--vscode-button-foreground); background: var(--vscode-button-background); }
button:hover { background: var(--vscode-button-hoverBackground); }
button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
button.secondary:hover { background: var(--vscode-button-secondaryHoverBackground); }
button:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: 2px; }
</style>
</head>
<body>
<h2>LoRA adapter</h2>
<div class="actions">
<button type="button" id="open-model-card" data-action="openModelCard">Open model card</button>
<button type="button" id="reveal" class="secondary" data-action="reveal">Reveal in Explorer</button>
</div>
<table class="summary">${summary.map(([k, v]) => `<tr><th scope="row">${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</table>
${issues.length === 0 ? '' : `<h3>Notes</h3><ul class="issues">${issues.join('')}</ul>`}
${groups.length === 0 ? '<p class="note">The adapter carries every changed tensor of the residual.</p>'
    : `<h3>Left out</h3><table class="left-out"><tr><th>What</th><th class="num">Tensors</th><th class="num">Energy</th></tr>${groups.join('')}</table>`}
<h3>Matrices, the worst reconstructed first</h3>
${cut}
<table class="matrices"><tr><th>Module</th><th>Shape</th><th class="num">Rank</th><th class="num">Energy</th><th class="num">Relative error</th></tr>${matrixRows.join('')}</table>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
for (const button of document.querySelectorAll('button[data-action]')) {
  button.addEventListener('click', () => vscode.postMessage({ type: button.dataset.action }));
}
</script>
</body>
</html>`;
}
