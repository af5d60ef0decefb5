import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createProgressBar } from '../../../src/cli/progress-bar';
import type { JobProgress } from '../../../src/shared/jobs';

/** A stream that says it is a terminal and keeps what was drawn on it: each redraw (cursor to column 1) a line, other escape codes removed. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text: () => string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  Object.assign(stream, { isTTY: true, columns: 200 });
  let written = '';
  stream.on('data', (chunk: Buffer) => { written += chunk.toString('utf8'); });
  return { stream, text: () => written.replace(/\x1b\[1G/g, '\n').replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '') };
}

const step = (phase: JobProgress['phase'], bytesDone: number, bytesTotal: number, tensor?: string): JobProgress =>
  ({ phase, bytesDone, bytesTotal, tensorsDone: 0, tensorsTotal: 0, ...(tensor ? { tensor } : {}) });

test('the bar shows sizes in units, and the spectral pass gets a bar of its own', async () => {
  const { stream, text } = fakeTerminal();
  const bar = createProgressBar('diff', stream);
  bar.update(step('plan', 0, 0));
  bar.update(step('stream', 0, 2_000_000, 'model.embed_tokens.weight'));
  bar.update(step('stream', 2_000_000, 2_000_000, 'lm_head.weight'));
  bar.update(step('spectra', 0, 0));
  stream.write('Spectra on plain JavaScript\n');
  bar.update(step('spectra', 0, 400_000, 'model.layers.0.mlp.up_proj.weight'));
  bar.update(step('spectra', 400_000, 400_000));
  bar.stop();
  await new Promise((resolve) => setImmediate(resolve));
  const lines = text().split(/[\r\n]+/).filter((line) => line.trim() !== '');
  const streamLine = lines.filter((line) => line.startsWith('diff █') || line.startsWith('diff ░')).at(-1);
  assert.match(streamLine ?? '', /^diff █+ 100% \| 2\.00 MB\/2\.00 MB \|/);
  const message = lines.indexOf('Spectra on plain JavaScript');
  assert.ok(message > lines.indexOf(streamLine!), 'the stream bar ends before the message');
  assert.match(lines.at(-1) ?? '', /^diff spectra █+ 100% \| 400 KB\/400 KB \|/);
  assert.doesNotMatch(text(), /2000000|400000/);
});

test('nothing is drawn where stderr is not a terminal', () => {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let written = '';
  stream.on('data', (chunk: Buffer) => { written += chunk.toString('utf8'); });
  const bar = createProgressBar('compute', stream);
  bar.update(step('stream', 10, 100));
  bar.stop();
  assert.equal(written, '');
});
