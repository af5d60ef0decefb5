/**
 * The read-only safetensors viewer's page: header metadata and the tensor table, rendered on the
 * host from `runInspect`'s result. Every string comes from a file, so every string is escaped
 * and the page runs no script at all (CSP `default-src 'none'`, styles by nonce).
 */
import { formatCount } from '../shared/quantities';
import { loraAdapterWords } from '../shared/lora-text';
import type { InspectResult } from '../shared/jobs';
import { PANEL_BASE_CSS } from './panel-styles';

/** Must match `.tensors .row` height in the page's style. */
const ROW_HEIGHT_PIXELS = 22;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that may sit inside a `<script>` element: no `<` (so no `</script>`), and no line separators. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The page's script: filters the tensor rows by name or dtype and draws only those in view (text only, never markup). */
const TABLE_SCRIPT = `
(() => {
  const ROW = ${ROW_HEIGHT_PIXELS}, OVERSCAN = 12;
  const all = JSON.parse(document.getElementById('tensor-data').textContent);
  const scroller = document.getElementById('scroller');
  const spacer = document.getElementById('spacer');
  const body = document.getElementById('rows');
  const filter = document.getElementById('filter');
  const count = document.getElementById('count');
  const fmt = new Intl.NumberFormat('en-US');
  let rows = all;
  const draw = () => {
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW) + OVERSCAN);
    body.style.transform = 'translateY(' + first * ROW + 'px)';
    const fragment = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const t = rows[i];
      const row = document.createElement('div');
      row.className = 'row';
      row.setAttribute('role', 'row');
      for (const [text, cls] of [[t[0], 'name'], [t[1], ''], ['[' + t[2].join(', ') + ']', ''], [fmt.format(t[3]), 'num'], [t[4], '']]) {
        const cell = document.createElement('div');
        cell.className = 'cell ' + cls;
        cell.setAttribute('role', 'cell');
        cell.textContent = text;
        cell.title = text;
        row.appendChild(cell);
      }
      fragment.appendChild(row);
    }
    body.replaceChildren(fragment);
  };
  const apply = () => {
    const q = filter.value.trim().toLowerCase();
    rows = q === '' ? all : all.filter((t) => t[0].toLowerCase().includes(q) || t[1].toLowerCase() === q);
    spacer.style.height = rows.length * ROW + 'px';
    count.textContent = (rows.length === all.length ? '' : fmt.format(rows.length) + ' of ') + fmt.format(all.length) + ' tensors';
    scroller.scrollTop = 0;
    draw();
  };
  let frame = 0;
  scroller.addEventListener('scroll', () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); }); });
  window.addEventListener('resize', draw);
  filter.addEventListener('input', apply);
  apply();
})();
`;

/** The viewer's page; `configVocabSize` (config.json's) stands in where no tokenizer file gives the vocabulary. */
export function inspectHtml(result: InspectResult & { configVocabSize?: number | null }, nonce: string, cspSource: string): string {
  const e = escapeHtml;
  const vocabulary = result.tokenizer?.vocabSize != null ? formatCount(result.tokenizer.vocabSize)
    : result.configVocabSize != null ? `${formatCount(result.configVocabSize)} (config.json vocab_size)` : 'unknown';
  const summary: Array<[string, string]> = [
    ['Path', result.path],
    ['Layout', result.shards.length > 1 ? `${result.layout} (${result.shards.length} shards)` : result.layout],
    ...(result.lora ? [['Adapter', loraAdapterWords(result.lora)] as [string, string]] : [
      ['Architecture', result.architecture ?? 'unknown'] as [string, string],
      ['Model type', result.modelType ?? 'unknown'] as [string, string],
    ]),
    ['Parameters', formatCount(result.parameters)],
    ['Tensor bytes', formatCount(result.bytes)],
    ['Tensors', formatCount(result.tensors.length)],
    ['Dtypes', Object.entries(result.dtypes).map(([dtype, count]) => `${dtype} × ${formatCount(count)}`).join(', ')],
    ['Vocabulary', vocabulary],
  ];
  const metadata = Object.entries(result.metadata);
  const rows = result.tensors.map((t) => [t.name, t.dtype, t.shape, t.bytes, t.file]);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src ${e(cspSource)}">
<title>${e(result.path)}</title>
<style nonce="${nonce}">
${PANEL_BASE_CSS}
.toolbar { display: flex; gap: 12px; align-items: center; margin: 8px 0; }
.toolbar input { width: 24em; background: var(--vscode-input-background); color: var(--vscode-input-foreground); border: 1px solid var(--vscode-input-border, transparent); padding: 3px 6px; }
.tensors { border: 1px solid var(--vscode-panel-border); }
.tensors .row { display: grid; grid-template-columns: minmax(12em, 1fr) 6em 12em 9em minmax(8em, 14em); height: ${ROW_HEIGHT_PIXELS}px; line-height: ${ROW_HEIGHT_PIXELS}px; }
.tensors .head { font-weight: 600; border-bottom: 1px solid var(--vscode-panel-border); padding-right: 14px; }
.tensors .cell { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; padding: 0 8px; }
.tensors .cell.name { font-family: var(--vscode-editor-font-family); }
.tensors .cell.num { text-align: right; font-variant-numeric: tabular-nums; }
#scroller { height: 60vh; min-height: 200px; overflow-y: auto; position: relative; }
#spacer { position: relative; }
#rows { position: absolute; top: 0; left: 0; right: 0; }
#rows .row:hover { background: var(--vscode-list-hoverBackground); }
</style>
</head>
<body>
<h2>Checkpoint</h2>
<table class="summary">${summary.map(([k, v]) => `<tr><th scope="row">${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</table>
<h2>Header metadata</h2>
${metadata.length === 0 ? '<p class="note">None.</p>' : `<table class="metadata"><tr><th>Key</th><th>Value</th></tr>${metadata.map(([k, v]) => `<tr><td>${e(k)}</td><td>${e(v)}</td></tr>`).join('')}</table>`}
<h2>Tensors</h2>
<div class="toolbar"><input id="filter" type="search" placeholder="Filter by name (or an exact dtype)" aria-label="Filter tensors"><span id="count" class="note">${formatCount(result.tensors.length)} tensors</span></div>
<div class="tensors" role="table" aria-label="Tensors">
<div class="row head" role="row"><div class="cell" role="columnheader">Name</div><div class="cell" role="columnheader">Dtype</div><div class="cell" role="columnheader">Shape</div><div class="cell num" role="columnheader">Bytes</div><div class="cell" role="columnheader">File</div></div>
<div id="scroller"><div id="spacer"><div id="rows" role="rowgroup"></div></div></div>
</div>
<script type="application/json" id="tensor-data">${scriptJson(rows)}</script>
<script nonce="${nonce}">${TABLE_SCRIPT}</script>
</body>
</html>`;
}

export function errorHtml(message: string, nonce: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}'">
<style nonce="${nonce}">body { font-family: var(--vscode-font-family); color: var(--vscode-errorForeground); padding: 16px; }</style>
</head><body><p>${escapeHtml(message)}</p></body></html>`;
}
