/**
 * Verify's result view: whether base + residual reproduces the instruct checkpoint, the issues that
 * explain a mismatch (a residual dtype too narrow to be exact names the setting that would be), and
 * the per-tensor counts: elements, bit-identical, differing only in the sign of zero, max error.
 * Rendered on the host; every string is escaped and the page runs no script.
 */
import { formatCount } from '../shared/quantities';
import type { VerifyResult, VerifyTensorResult } from '../shared/jobs';
import { escapeHtml } from './inspect-html';
import { editorAdvice } from './prompt-checks';
import { PANEL_BASE_CSS } from './panel-styles';

/** The view lists at most this many tensors, the mismatching ones first. */
const MAX_TABLE_ROWS = 5_000;

export interface VerifyInputs {
  base: string;
  residual: string;
  instruct: string;
}

/** Elements that differ in value (a signed zero is the same value). */
function mismatches(tensor: VerifyTensorResult): number {
  return tensor.elements - tensor.identical - tensor.signedZeroOnly;
}

/** The tensors as the view lists them: the most mismatching first, then by name. */
export function verifyRows(tensors: readonly VerifyTensorResult[]): VerifyTensorResult[] {
  return [...tensors].sort((x, y) => mismatches(y) - mismatches(x) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** An error to three significant digits: 3.81e-6, 0.125, 0. */
export function formatError(value: number): string {
  const abs = Math.abs(value);
  if (abs === 0 || !Number.isFinite(value)) return String(value);
  return abs < 1e-3 || abs >= 1e6 ? value.toExponential(2) : String(Number(value.toPrecision(3)));
}

/** One line for a notification: the verdict and the counts. */
export function verifySummary(result: VerifyResult): string {
  const signedZeros = result.signedZeroOnly > 0 ? ` (${formatCount(result.signedZeroOnly)} more differ only in the sign of zero)` : '';
  return `${formatCount(result.identical)} of ${formatCount(result.elements)} elements bit-identical${signedZeros}, max abs error ${formatError(result.maxAbsError)}.`;
}

export function verifyHtml(result: VerifyResult, inputs: VerifyInputs, nonce: string): string {
  const e = escapeHtml;
  const failing = result.tensors.filter((t) => mismatches(t) > 0).length;
  const verdict = result.ok
    ? 'base + residual reproduces the instruct checkpoint: every element is bit-identical or differs only in the sign of zero.'
    : `base + residual does not reproduce the instruct checkpoint: ${formatCount(failing)} of ${formatCount(result.tensors.length)} tensors differ.`;
  const summary: Array<[string, string]> = [
    ['Base', inputs.base],
    ['Residual', inputs.residual],
    ['Instruct', inputs.instruct],
    ['Elements', formatCount(result.elements)],
    ['Bit-identical', formatCount(result.identical)],
    ['Signed zero only', formatCount(result.signedZeroOnly)],
    ['Max abs error', formatError(result.maxAbsError)],
    ['Time', `${result.seconds.toFixed(2)} s`],
  ];
  const issues = result.issues.map((issue) =>
    `<li class="issue ${e(issue.severity)}" data-rule="${e(issue.rule)}"><span class="rule">${e(issue.rule)}</span> ${e(editorAdvice(issue.message))}</li>`);
  const rows = verifyRows(result.tensors).slice(0, MAX_TABLE_ROWS).map((t) => {
    const bad = mismatches(t);
    return `<tr class="${bad > 0 ? 'mismatch' : 'exact'}"><td class="name">${e(t.name)}</td><td class="num">${formatCount(t.elements)}</td>`
      + `<td class="num">${formatCount(t.identical)}</td><td class="num">${formatCount(t.signedZeroOnly)}</td>`
      + `<td class="num">${formatCount(bad)}</td><td class="num">${e(formatError(t.maxAbsError))}</td></tr>`;
  });
  const cut = result.tensors.length > MAX_TABLE_ROWS
    ? `<p class="note">Showing ${formatCount(MAX_TABLE_ROWS)} of ${formatCount(result.tensors.length)} tensors, the mismatching ones first.</p>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}'">
<title>Verify ${e(inputs.residual)}</title>
<style nonce="${nonce}">
${PANEL_BASE_CSS}
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { font-family: var(--vscode-editor-font-family); word-break: break-all; }
tr.mismatch td { color: var(--vscode-errorForeground); }
.verdict { font-size: 1.1em; padding: 8px 12px; border-left: 4px solid; }
.verdict.ok { border-color: var(--vscode-testing-iconPassed, green); }
.verdict.failed { border-color: var(--vscode-errorForeground); }
</style>
</head>
<body>
<h2>Verify</h2>
<p class="verdict ${result.ok ? 'ok' : 'failed'}">${result.ok ? '✓' : '✗'} ${e(verdict)}</p>
${issues.length === 0 ? '' : `<h3>Why</h3><ul class="issues">${issues.join('')}</ul>`}
<table class="summary">${summary.map(([k, v]) => `<tr><th scope="row">${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</table>
<h3>Tensors</h3>
${cut}
<table class="tensors"><tr><th>Name</th><th class="num">Elements</th><th class="num">Identical</th><th class="num">Signed zero only</th><th class="num">Mismatched</th><th class="num">Max error</th></tr>${rows.join('')}</table>
</body>
</html>`;
}
