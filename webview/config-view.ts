/** The config.json diff and the compatibility verdict with its reasons. */
import type { ConfigReport } from '../src/shared/report';
import { fileText, h, valueText } from './dom';

export function renderConfig(report: ConfigReport | null): HTMLElement {
  if (report === null) return h('p', { className: 'empty' }, 'No config.json was found on either side.');
  const verdict = h('p', {}, 'Compatibility: ', h('strong', { className: `verdict verdict-${report.verdict}` }, report.verdict));
  const reasons = h('ul', { className: 'reasons' });
  for (const reason of report.reasons) reasons.appendChild(h('li', {}, fileText(reason)));
  if (report.changed.length === 0) return h('div', { className: 'config' }, verdict, reasons, h('p', { className: 'empty' }, 'config.json is the same on both sides.'));
  const body = h('tbody');
  for (const entry of report.changed) {
    body.appendChild(h('tr', {}, h('td', {}, fileText(entry.key)),
      h('td', {}, h('pre', {}, fileText(valueText(entry.a)))), h('td', {}, h('pre', {}, fileText(valueText(entry.b))))));
  }
  return h('div', { className: 'config' }, verdict, reasons,
    h('table', { className: 'plain config-changes' }, h('thead', {}, h('tr', {}, h('th', {}, 'key'), h('th', {}, 'A'), h('th', {}, 'B'))), body));
}
