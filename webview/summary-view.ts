/** The summary: counts by status, parameters changed, global relative norm, quantization, vocabulary, verdict. */
import { formatParameters, formatPercent, formatStatistic } from '../src/shared/quantities';
import { TENSOR_STATUSES, type DiffReport, type TensorStatus } from '../src/shared/report';
import { fileText, h } from './dom';
import { quantizationFact } from './summary-model';

function fact(term: string, value: Node | string, className?: string): HTMLElement[] {
  return [h('dt', {}, term), h('dd', className === undefined ? {} : { className }, value)];
}

export function renderSummary(report: DiffReport, onStatus: (status: TensorStatus) => void): HTMLElement {
  const { summary, tokenizer, config } = report;
  const counts = h('div', { className: 'status-counts' });
  for (const status of TENSOR_STATUSES) {
    const count = summary.counts[status] ?? 0;
    const button = h('button', { className: 'status-count', attributes: { type: 'button', 'data-status': status } },
      h('span', { className: 'count' }, String(count)), ' ', status);
    button.disabled = count === 0;
    button.addEventListener('click', () => onStatus(status));
    counts.appendChild(button);
  }

  const facts = h('dl', { className: 'facts summary-facts' });
  const changedShare = summary.parametersCompared > 0 ? summary.parametersChanged / summary.parametersCompared : null;
  facts.append(
    ...fact('Parameters changed', `${formatParameters(summary.parametersChanged)} of ${formatParameters(summary.parametersCompared)} (${formatPercent(changedShare)})`),
    ...fact('Global relative norm', formatStatistic(summary.globalRelativeNorm)),
  );
  const quantization = quantizationFact(report);
  if (quantization !== null) facts.append(...fact('Quantization', quantization));
  if (tokenizer !== null) {
    const { vocabSize, addedTokens } = tokenizer;
    const vocabulary = vocabSize.a === vocabSize.b ? `${vocabSize.a ?? '—'} (same)` : `${vocabSize.a ?? '—'} → ${vocabSize.b ?? '—'}`;
    facts.append(
      ...fact('Vocabulary', vocabulary),
      ...fact('Added tokens', `${addedTokens.onlyInB.length} new, ${addedTokens.onlyInA.length} removed, ${addedTokens.changed.length} changed`),
      ...fact('Chat template', !tokenizer.chatTemplate.changed ? 'unchanged' : tokenizer.chatTemplate.a ? 'changed' : 'added'),
    );
  }
  const verdict = config?.verdict ?? 'unknown';
  facts.append(...fact('Compatibility', verdict, `verdict verdict-${verdict}`));
  const reasons = h('ul', { className: 'reasons' });
  for (const reason of config?.reasons ?? []) reasons.appendChild(h('li', {}, fileText(reason)));

  const most = h('ol', { className: 'most-changed' });
  for (const entry of summary.mostChanged) {
    most.appendChild(h('li', {}, fileText(entry.name), ' ', h('span', { className: 'muted' }, formatStatistic(entry.relativeNorm))));
  }
  return h('div', { className: 'summary' }, counts, facts, reasons,
    summary.mostChanged.length > 0 ? h('h3', {}, 'Most changed (relative norm)') : null,
    summary.mostChanged.length > 0 ? most : null);
}
