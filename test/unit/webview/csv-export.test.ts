import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CSV_COLUMNS, tensorsToCsv } from '../../../webview/csv-export';

test('writes one header and one line per tensor, quoting commas, quotes and newlines', () => {
  const csv = tensorsToCsv([
    { name: 'a,"b"\nc', status: 'changed', layer: 3, module: 'mlp', a: { dtype: 'BF16', shape: [2, 3] }, b: { dtype: 'BF16', shape: [2, 3] }, elements: 6, deltaNorm: 0.5, relativeNorm: -0.25 },
  ]);
  const lines = csv.split('\r\n');
  assert.equal(lines[0], CSV_COLUMNS.join(','));
  assert.ok(lines[1]?.startsWith('"a,""b""\nc",changed,BF16,BF16,2x3,2x3,6,3,mlp,0.5,,-0.25,'), lines[1]);
  assert.equal(lines.at(-1), '');
});

test('a name that a spreadsheet would evaluate gets a leading apostrophe; numbers do not', () => {
  const csv = tensorsToCsv([{ name: '=HYPERLINK("http://x")', status: 'only-in-b', layer: null, module: '@mod', meanDelta: -1 }]);
  const line = csv.split('\r\n')[1] ?? '';
  assert.ok(line.startsWith(`"'=HYPERLINK(""http://x"")",only-in-b,`), line);
  assert.ok(line.includes(",'@mod,"), line);
  assert.ok(line.includes(',-1,'), line);
});
