/** The tokenizer diff: vocabulary, added and special tokens, chat template side by side, settings. */
import type { AddedToken, TokenizerReport } from '../src/shared/report';
import { fileText, h, section, valueText } from './dom';
import { sideBySide } from './side-by-side';

function tokenTable(tokens: readonly AddedToken[]): HTMLElement {
  const body = h('tbody');
  for (const token of tokens) {
    body.appendChild(h('tr', {}, h('td', { className: 'numeric' }, String(token.id)),
      h('td', {}, fileText(token.content, 'file-text token')), h('td', {}, token.special ? 'special' : '')));
  }
  return h('table', { className: 'plain tokens' },
    h('thead', {}, h('tr', {}, h('th', {}, 'id'), h('th', {}, 'content'), h('th', {}, ''))), body);
}

function keyValueTable(entries: ReadonlyArray<{ key: string; a: unknown; b: unknown }>, className: string): HTMLElement {
  const body = h('tbody');
  for (const entry of entries) {
    body.appendChild(h('tr', {}, h('td', {}, fileText(entry.key)),
      h('td', {}, h('pre', {}, fileText(valueText(entry.a)))), h('td', {}, h('pre', {}, fileText(valueText(entry.b))))));
  }
  return h('table', { className: `plain ${className}` },
    h('thead', {}, h('tr', {}, h('th', {}, 'key'), h('th', {}, 'A'), h('th', {}, 'B'))), body);
}

function chatTemplate(report: TokenizerReport): HTMLElement {
  const template = report.chatTemplate;
  if (!template.a && !template.b) return h('p', { className: 'empty' }, 'Neither side has a chat template.');
  if (!template.changed) return h('p', {}, 'The chat template is the same on both sides.');
  const grid = h('div', { className: 'side-by-side', attributes: { role: 'table', 'aria-label': 'Chat template, A left, B right' } },
    h('div', { className: 'side-head' }, template.a ? 'A' : 'A (none)'), h('div', { className: 'side-head' }, template.b ? 'B' : 'B (none)'));
  for (const row of sideBySide(template.diff)) {
    for (const line of [row.left, row.right]) {
      const cell = h('div', { className: `line ${line === null ? 'filler' : line.op}` });
      if (line !== null) cell.appendChild(fileText(line.text, 'file-text code'));
      grid.appendChild(cell);
    }
  }
  return grid;
}

export function renderTokenizer(report: TokenizerReport | null): HTMLElement {
  if (report === null) return h('p', { className: 'empty' }, 'No tokenizer files were found on either side.');
  const { vocabSize, addedTokens, merges } = report;
  const facts = h('dl', { className: 'facts' },
    h('dt', {}, 'Vocabulary size'), h('dd', {}, `A ${vocabSize.a ?? '—'} · B ${vocabSize.b ?? '—'}`),
    h('dt', {}, 'BPE merges'), h('dd', {}, `A ${merges.a ?? '—'} · B ${merges.b ?? '—'}`));
  const changedTokens = addedTokens.changed.map((change) => ({ key: String(change.id), a: change.a, b: change.b }));
  return h('div', { className: 'tokenizer' },
    facts,
    section(`Added tokens only in B (${addedTokens.onlyInB.length})`, addedTokens.onlyInB.length > 0 ? tokenTable(addedTokens.onlyInB) : null),
    addedTokens.onlyInA.length > 0 ? section(`Added tokens only in A (${addedTokens.onlyInA.length})`, tokenTable(addedTokens.onlyInA)) : null,
    changedTokens.length > 0 ? section(`Added tokens that changed (${changedTokens.length})`, keyValueTable(changedTokens, 'changed-tokens')) : null,
    section(`Special tokens (${report.specialTokens.length} differ)`,
      report.specialTokens.length > 0 ? keyValueTable(report.specialTokens, 'special-tokens') : h('p', { className: 'empty' }, 'The same on both sides.')),
    section('Chat template', chatTemplate(report)),
    section(`Tokenizer settings (${report.changes.length} differ)`,
      report.changes.length > 0 ? keyValueTable(report.changes, 'tokenizer-changes') : h('p', { className: 'empty' }, 'The same on both sides.')));
}
