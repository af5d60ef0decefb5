import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mixColours, parseCssColour, toCss } from '../../../webview/colour';
import { FrameBatcher } from '../../../webview/frame-batcher';
import { sideBySide } from '../../../webview/side-by-side';
import { splitControlCharacters, visibleText } from '../../../webview/visible-text';

test('bidi overrides and zero-width characters become visible markers; tabs and newlines stay', () => {
  assert.deepEqual(splitControlCharacters('a\u202Egnp.exe'), [
    { text: 'a', control: false }, { text: 'U+202E', control: true }, { text: 'gnp.exe', control: false },
  ]);
  assert.equal(visibleText('x\u200By\u2066z'), 'x⟨U+200B⟩y⟨U+2066⟩z');
  assert.deepEqual(splitControlCharacters('line\n\tnext'), [{ text: 'line\n\tnext', control: false }]);
  assert.deepEqual(splitControlCharacters(''), [{ text: '', control: false }]);
  assert.equal(visibleText('<img src=x onerror=alert(1)>'), '<img src=x onerror=alert(1)>');
});

test('a line diff pairs removed and added runs side by side', () => {
  const rows = sideBySide([
    { op: 'same', text: 'a' }, { op: 'removed', text: 'b' }, { op: 'removed', text: 'c' }, { op: 'added', text: 'B' }, { op: 'same', text: 'd' }, { op: 'added', text: 'e' },
  ]);
  assert.deepEqual(rows.map((r) => [r.left?.text ?? null, r.right?.text ?? null]), [['a', 'a'], ['b', 'B'], ['c', null], ['d', 'd'], [null, 'e']]);
  assert.equal(rows[1]?.left?.op, 'removed');
  assert.equal(rows[1]?.right?.op, 'added');
});

test('parses theme colours and mixes them', () => {
  assert.deepEqual(parseCssColour('#1f1f1f'), { r: 31, g: 31, b: 31, a: 1 });
  assert.deepEqual(parseCssColour('#fff8'), { r: 255, g: 255, b: 255, a: 0x88 / 255 });
  assert.deepEqual(parseCssColour('rgba(10, 20, 30, 0.5)'), { r: 10, g: 20, b: 30, a: 0.5 });
  assert.deepEqual(parseCssColour(' rgb(1 2 3 / 50%) '), { r: 1, g: 2, b: 3, a: 0.5 });
  assert.equal(parseCssColour('var(--x)'), null);
  assert.equal(toCss(mixColours({ r: 0, g: 0, b: 0, a: 1 }, { r: 255, g: 100, b: 50, a: 1 }, 0.5)), 'rgba(128, 50, 25, 1)');
});

test('the frame batcher flushes everything pushed before a frame, once', () => {
  const frames: Array<() => void> = [];
  const flushed: number[][] = [];
  const batcher = new FrameBatcher<number>((items) => flushed.push(items), (callback) => frames.push(callback));
  batcher.push([1, 2]);
  batcher.push([3]);
  assert.equal(frames.length, 1);
  frames.shift()?.();
  assert.deepEqual(flushed, [[1, 2, 3]]);
  batcher.push([4]);
  batcher.clear();
  frames.shift()?.();
  assert.deepEqual(flushed, [[1, 2, 3]], 'cleared items are dropped');
  const many = Array.from({ length: 300_000 }, (_, i) => i);
  batcher.push(many);
  frames.shift()?.();
  assert.equal(flushed.at(-1)?.length, 300_000);
});
