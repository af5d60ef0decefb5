/**
 * The read-only safetensors viewer's page: header metadata and the tensor table, rendered on the
 * host from `runInspect`'s result. Every string comes from a file, so every string is escaped
 * and the page runs no script at all (CSP `default-src 'none'`, styles by nonce).
 */
import { formatCount } from '../shared/quantities';
import type { InspectResult } from '../shared/jobs';

/** Tables longer than this are cut, with a note; a browser chokes on 100,000 rows of static HTML. */
export const MAX_TABLE_ROWS = 20_000;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function inspectHtml(result: InspectResult, nonce: string, cspSource: string): string {
  const e = escapeHtml;
  const summary: Array<[string, string]> = [
    ['Path', result.path],
    ['Layout', result.shards.length > 1 ? `${result.layout} (${result.shards.length} shards)` : result.layout],
    ['Architecture', result.architecture ?? 'unknown'],
    ['Model type', result.modelType ?? 'unknown'],
    ['Parameters', formatCount(result.parameters)],
    ['Tensor bytes', formatCount(result.bytes)],
    ['Tensors', formatCount(result.tensors.length)],
    ['Dtypes', Object.entries(result.dtypes).map(([dtype, count]) => `${dtype} × ${formatCount(count)}`).join(', ')],
    ['Vocabulary', result.tokenizer?.vocabSize == null ? 'unknown' : formatCount(result.tokenizer.vocabSize)],
  ];
  const metadata = Object.entries(result.metadata);
  const rows = result.tensors.slice(0, MAX_TABLE_ROWS).map((t) =>
    `<tr><td class="name">${e(t.name)}</td><td>${e(t.dtype)}</td><td>[${e(t.shape.join(', '))}]</td><td class="num">${formatCount(t.bytes)}</td><td>${e(t.file)}</td></tr>`);
  const cut = result.tensors.length > MAX_TABLE_ROWS
    ? `<p class="note">Showing the first ${formatCount(MAX_TABLE_ROWS)} of ${formatCount(result.tensors.length)} tensors.</p>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}'; img-src ${e(cspSource)}">
<title>${e(result.path)}</title>
<style nonce="${nonce}">
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 16px 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }
th { border-bottom: 1px solid var(--vscode-panel-border); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { font-family: var(--vscode-editor-font-family); word-break: break-all; }
.note { color: var(--vscode-descriptionForeground); }
</style>
</head>
<body>
<h2>Checkpoint</h2>
<table class="summary">${summary.map(([k, v]) => `<tr><th scope="row">${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</table>
<h2>Header metadata</h2>
${metadata.length === 0 ? '<p class="note">None.</p>' : `<table class="metadata"><tr><th>Key</th><th>Value</th></tr>${metadata.map(([k, v]) => `<tr><td>${e(k)}</td><td>${e(v)}</td></tr>`).join('')}</table>`}
<h2>Tensors</h2>
${cut}
<table class="tensors"><tr><th>Name</th><th>Dtype</th><th>Shape</th><th>Bytes</th><th>File</th></tr>${rows.join('')}</table>
</body>
</html>`;
}

export function errorHtml(message: string, nonce: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}'">
<style nonce="${nonce}">body { font-family: var(--vscode-font-family); color: var(--vscode-errorForeground); padding: 16px; }</style>
</head><body><p>${escapeHtml(message)}</p></body></html>`;
}
