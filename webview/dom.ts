/**
 * The one way this view builds DOM: elements with properties and children, where every string
 * becomes a text node. Nothing from a file ever reaches innerHTML or an attribute that executes.
 */
import { splitControlCharacters } from './visible-text';

type Child = Node | string | null | undefined | false;

export interface ElementOptions {
  className?: string;
  attributes?: Record<string, string>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, options?: ElementOptions, ...children: Child[]
): HTMLElementTagNameMap[K];
export function h(tag: string, options?: ElementOptions, ...children: Child[]): HTMLElement;
export function h(tag: string, options: ElementOptions = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  if (options.className !== undefined) element.className = options.className;
  for (const [name, value] of Object.entries(options.attributes ?? {})) element.setAttribute(name, value);
  appendChildren(element, children);
  return element;
}

function appendChildren(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/**
 * Text that came from a file (tensor names, tokens, templates): isolated for bidi so it cannot
 * reorder the UI around it, with control characters shown as visible `U+XXXX` markers.
 */
export function fileText(text: string, className = 'file-text'): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = className;
  fillFileText(span, text);
  return span;
}

export function fillFileText(target: HTMLElement, text: string): void {
  const runs = splitControlCharacters(text);
  if (runs.length === 1 && runs[0]?.control === false) {
    target.textContent = runs[0].text;
    return;
  }
  target.replaceChildren();
  for (const run of runs) target.appendChild(run.control ? controlMarker(run.text) : document.createTextNode(run.text));
}

function controlMarker(text: string): HTMLSpanElement {
  const marker = document.createElement('span');
  marker.className = 'control-char';
  marker.textContent = text;
  marker.title = `Invisible control character ${text}`;
  return marker;
}

/**
 * A tensor or module name in a table: `fileText`, with a line break allowed after each dot or
 * slash (a <wbr>), so a narrow column wraps it between components, never inside one (the `.name`
 * class lets a component break only where it alone is wider than the column).
 */
export function nameText(text: string): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = 'file-text name';
  for (const run of splitControlCharacters(text)) {
    if (run.control) {
      span.appendChild(controlMarker(run.text));
      continue;
    }
    for (const part of run.text.split(/(?<=[./])/u)) {
      span.appendChild(document.createTextNode(part));
      if (/[./]$/u.test(part)) span.appendChild(document.createElement('wbr'));
    }
  }
  return span;
}

/** Any JSON value from a file, as text. */
export function valueText(value: unknown): string {
  if (value === undefined) return '(absent)';
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 1) ?? String(value);
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { className: 'section' }, h('h2', {}, title), ...children);
}
