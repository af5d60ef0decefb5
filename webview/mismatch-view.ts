/** Tensors that cannot be subtracted as they are, with what compute/apply will do about each. */
import { formatShape } from '../src/shared/quantities';
import type { TensorReport, TensorStatus } from '../src/shared/report';
import { fileText, h, nameText } from './dom';
import { noMismatchText, type Completeness } from './failure-model';

/** Every status but `changed` and `unchanged`: typed, so a status renamed in report.ts fails to compile here. */
const MISMATCH_STATUSES: ReadonlySet<TensorStatus> = new Set<TensorStatus>(['shape-mismatch', 'dtype-mismatch', 'only-in-a', 'only-in-b']);

function isMismatch(tensor: TensorReport): boolean {
  return MISMATCH_STATUSES.has(tensor.status);
}

function side(tensor: TensorReport, which: 'a' | 'b'): string {
  const info = tensor[which];
  return info === undefined ? 'absent' : `${info.dtype} ${formatShape(info.shape)}`;
}

export function renderMismatches(
  tensors: readonly TensorReport[], onSelect: (tensor: TensorReport) => void, completeness: Completeness,
): HTMLElement {
  const mismatches = tensors.filter(isMismatch);
  if (mismatches.length === 0) return h('p', { className: 'empty' }, noMismatchText(completeness));
  const body = h('tbody');
  for (const tensor of mismatches) {
    const name = h('button', { className: 'link', attributes: { type: 'button' } }, nameText(tensor.name));
    name.addEventListener('click', () => onSelect(tensor));
    body.appendChild(h('tr', { attributes: { 'data-status': tensor.status } },
      h('td', {}, name),
      h('td', { className: 'nowrap' }, tensor.status),
      h('td', { className: 'nowrap' }, fileText(side(tensor, 'a'))),
      h('td', { className: 'nowrap' }, fileText(side(tensor, 'b'))),
      h('td', { className: tensor.resolution === undefined ? 'muted' : 'resolution' },
        tensor.resolution === undefined ? 'no automatic resolution' : fileText(tensor.resolution))));
  }
  return h('table', { className: 'plain mismatches' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Tensor'), h('th', {}, 'Status'), h('th', {}, 'A'), h('th', {}, 'B'), h('th', {}, 'What compute/apply does'))),
    body);
}
