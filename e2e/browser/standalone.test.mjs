// The report webview in headless Chromium, outside VS Code: the standalone page mocks
// acquireVsCodeApi and the test plays the host (postMessage). 5,000 tensors with hostile names,
// with the spectra `diff --spectra` attaches to the 2-D deltas.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { countPixelsNear } from '../lib/browser.mjs';
import { HOSTILE, HOSTILE_TENSORS, makeReport, SPECTRA_PROVIDER } from './make-report.mjs';
import { closeStandalonePage, openStandalonePage, SCREENSHOTS } from './standalone-page.mjs';

const TENSORS = 5000;
const report = makeReport({ tensors: TENSORS });
/**
 * Spectra add ~2.5 KB of JSON per matrix; the page saves state in sessionStorage, whose quota a
 * 5,000-matrix report would pass, so the spectra tests use a smaller one.
 */
const SPECTRA_TENSORS = 1500;
const spectraReport = makeReport({ tensors: SPECTRA_TENSORS, spectra: true });
/** Lines, points and legend swatches of the spectra chart: far more than the legend alone would colour. */
const MIN_SPECTRA_LINE_PIXELS = 3000;
/** The heatmap's columns in the synthetic report, in architecture order (the engine sends them alphabetically). */
const ARCHITECTURE_ORDER = ['q', 'k', 'v', 'o', 'router', 'expert.w1', 'expert.w3', 'expert.w2', 'input_norm', 'post_attn_norm', 'mlp'];
/** The Okabe-Ito colours the spectra chart's first seven lines take on a dark background (webview/spectra-model.ts). */
const OKABE_ITO_DARK = [[0x56, 0xb4, 0xe9], [0xe6, 0x9f, 0x00], [0x00, 0x9e, 0x73], [0xcc, 0x79, 0xa7], [0xf0, 0xe4, 0x42], [0x00, 0x72, 0xb2], [0xd5, 0x5e, 0x00]];

let server;
let browser;
let page;
const problems = { console: [], page: [], dialogs: [] };

/** Pixels of the heatmap where red clearly dominates: cells mixed from the background to red. */
async function countHeatPixels() {
  return page.evaluate(() => {
    const canvas = document.querySelector('.heatmap canvas');
    if (!(canvas instanceof HTMLCanvasElement) || canvas.width === 0) return -1;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && data[i] - Math.max(data[i + 1], data[i + 2]) > 40) count += 1;
    }
    return count;
  });
}

/**
 * Pixels of the spectra chart in a saturated colour: the module lines. Text and grid lines are
 * shades of the foreground colour and the canvas background is transparent, so neither counts.
 */
async function countLinePixels() {
  return page.evaluate(() => {
    const canvas = document.querySelector('.spectra canvas');
    if (!(canvas instanceof HTMLCanvasElement) || canvas.width === 0) return -1;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60) count += 1;
    }
    return count;
  });
}

async function post(message) {
  await page.evaluate((m) => window.postMessage(m, '*'), message);
}

async function open(theme, { clearState = true } = {}) {
  await page.goto(`${server.url}/e2e/browser/standalone.html?theme=${theme}${clearState ? '&fresh' : ''}`);
  await page.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
}

async function visibleNames() {
  return page.$$eval('.table-row:not([hidden])', (rows) => rows
    .sort((x, y) => Number(x.dataset.index) - Number(y.dataset.index))
    .map((row) => row.querySelector('.cell')?.getAttribute('title')));
}

/** True when every tick is a multiple of one step of the form 1, 2 or 5 x 10^k. */
function roundTicks(ticks) {
  if (ticks.length < 2) return false;
  const step = ticks[1] - ticks[0];
  const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6));
  return [1, 2, 5].includes(mantissa) && ticks.every((tick) => Math.abs(tick / step - Math.round(tick / step)) < 1e-6);
}

/** Numeric cells of the table whose text does not fit (would be clipped), and each column's notations. */
async function numericCells() {
  return page.$$eval('.table-row:not([hidden])', (rows) => {
    const clipped = [];
    const notations = {};
    for (const row of rows) {
      row.querySelectorAll('.cell.numeric').forEach((cell, column) => {
        if (cell.scrollWidth > cell.clientWidth) clipped.push(cell.textContent);
        const text = cell.textContent;
        const notation = text === '—' || text === '0' ? null : text.endsWith('%') ? `percent ${text.split('.')[1]?.length - 1}` : text.includes('e') ? 'exponent' : 'fixed';
        if (notation !== null) (notations[column] ??= new Set()).add(notation);
      });
    }
    return { clipped, notations: Object.values(notations).map((set) => [...set]) };
  });
}

async function showTab(id) {
  await page.locator(`vscode-tab-header[data-tab="${id}"]`).click();
  await page.locator(`vscode-tab-panel[data-tab="${id}"]`).waitFor({ state: 'visible' });
}

describe('report webview, standalone', () => {
  before(async () => {
    ({ server, browser, page } = await openStandalonePage(problems));
    page.on('dialog', async (dialog) => { problems.dialogs.push(dialog.message()); await dialog.dismiss(); });
  });

  after(() => closeStandalonePage(browser, server));

  test('renders 5,000 tensors with hostile names as text, and runs nothing', async () => {
    await open('dark');
    const started = Date.now();
    await post({ type: 'report', report });
    await page.locator('.row-count', { hasText: `5,000 of 5,000 tensors` }).waitFor({ state: 'attached' });
    console.log(`# report of ${TENSORS} tensors transferred by Playwright and rendered in ${Date.now() - started} ms`);

    const title = await page.locator('h1.title').textContent();
    assert.ok(title.includes(HOSTILE.img), `title shows the path as text: ${title}`);
    const tokenizerText = await page.locator('.tokenizer').textContent();
    assert.ok(tokenizerText.includes(HOSTILE.img) && tokenizerText.includes(HOSTILE.script), 'tokens and template as text');
    const markers = await page.locator('.control-char', { hasText: 'U+202E' }).count();
    assert.ok(markers >= 2, `the bidi override is shown as a marker (${markers})`);

    const injected = await page.evaluate(() => ({
      images: document.querySelectorAll('img').length,
      scripts: document.querySelectorAll('script').length,
      pwned: window.__pwned === true,
    }));
    assert.deepEqual(injected, { images: 0, scripts: 2, pwned: false });
    assert.deepEqual(problems.dialogs, []);

    const heat = await countHeatPixels();
    assert.ok(heat > 5000, `heatmap cells drawn (${heat} red pixels)`);
    const mismatchRows = await page.locator('table.mismatches tbody tr').count();
    assert.equal(mismatchRows, 4);
    const resolution = await page.locator('table.mismatches tbody tr').first().locator('td').last().textContent();
    assert.match(resolution, /grows to 32002 rows/);
    // A comparison of two checkpoints: nothing to apply and no model card to write.
    assert.equal(await page.locator('#action-apply').isHidden(), true, 'no Apply on a comparison');
    assert.equal(await page.locator('#action-card').isHidden(), true, 'no model card on a comparison');
    assert.equal(await page.locator('#action-export-json').isVisible(), true);
    await page.screenshot({ path: join(SCREENSHOTS, 'standalone-overview-dark.png'), fullPage: true });
  });

  test('the heatmap: architecture order, a legend with its scale, cells reachable from the keyboard', async () => {
    await showTab('overview');
    const legend = await page.locator('.heatmap-legend .colour-tick').allTextContents();
    const cells = report.layers.map((cell) => cell.relativeNorm).filter((value) => value > 0);
    assert.equal(legend[0], String(Number(Math.min(...cells).toPrecision(4))), `the legend starts at the smallest value: ${legend.join(' ')}`);
    assert.equal(legend.at(-1), String(Number(Math.max(...cells).toPrecision(4))), 'and ends at the largest');
    assert.ok(legend.slice(1, -1).every((label) => /^[125](e-\d+)?$|^0\.0*[125]$/.test(label)), `round values between: ${legend.join(' ')}`);
    assert.match(await page.locator('.heatmap-legend').textContent(), /log scale/);
    assert.match(await page.locator('.heatmap-legend').textContent(), /0 \(unchanged\)/, 'the unchanged router has its own swatch');

    // Tab to the heatmap; the arrow keys walk layer 0 from left to right in architecture order.
    await page.locator('.heatmap-box').focus();
    const focused = () => page.locator('.heatmap-box').getAttribute('data-focused-cell');
    const visited = [await focused()];
    for (let i = 0; i < ARCHITECTURE_ORDER.length; i++) {
      await page.keyboard.press('ArrowRight');
      visited.push(await focused());
    }
    assert.deepEqual(visited, [...ARCHITECTURE_ORDER.map((module) => `0|${module}`), `0|${ARCHITECTURE_ORDER.at(-1)}`], 'stops at the last cell of the row');
    assert.match(await page.locator('.heatmap [aria-live]').textContent(), /^layer 0, mlp: relative norm /, 'the focused cell is read out');
    for (const key of ['Home', 'ArrowRight', 'ArrowRight', 'ArrowDown', 'ArrowDown', 'ArrowDown']) await page.keyboard.press(key);
    assert.equal(await focused(), '3|v');
    await page.locator('.heatmap').screenshot({ path: join(SCREENSHOTS, 'standalone-heatmap-dark.png') });

    // Enter lists the cell's tensors, as a click does, and the histogram follows the filter.
    await page.keyboard.press('Enter');
    await page.locator('vscode-tab-panel[data-tab="tensors"]').waitFor({ state: 'visible' });
    await page.locator('.row-count', { hasText: '1 of 5,000 tensors' }).waitFor({ state: 'attached' });
    assert.equal(await page.locator('.chip').textContent(), 'layer 3 · v ✕');
    assert.equal(await page.locator('.histogram').getAttribute('data-tensor'), 'model.layers.3.self_attn.v_proj.weight', 'the histogram shows the cell\'s tensor');
    await page.locator('.histogram canvas').waitFor();
    const ticks = (await page.locator('.histogram canvas').getAttribute('data-ticks')).split(' ').map(Number);
    assert.ok(roundTicks(ticks), `histogram ticks are round values: ${ticks.join(' ')}`);

    // Space activates a cell too: the experts of layer 5, 64 tensors of one module.
    await showTab('overview');
    await page.locator('.heatmap-box').focus();
    for (const key of ['Home', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowDown', 'ArrowDown']) await page.keyboard.press(key);
    assert.equal(await focused(), '5|expert.w1');
    await page.keyboard.press(' ');
    await page.locator('.row-count', { hasText: '64 of 5,000 tensors' }).waitFor({ state: 'attached' });
    assert.match(await page.locator('.histogram').getAttribute('data-tensor'), /^model\.layers\.5\.block_sparse_moe\.experts\.\d+\.w1\.weight$/);
    assert.equal(await page.locator('#action-export-csv').textContent(), 'Export CSV (64 of 5,000 rows)', 'the export says it is narrowed');
    await page.locator('.chip').click();
    await page.locator('.row-count', { hasText: '5,000 of 5,000 tensors' }).waitFor({ state: 'attached' });
    assert.equal(await page.locator('#action-export-csv').textContent(), 'Export CSV');
  });

  test('the table is virtualised, sorts and filters, and clips no number', async () => {
    await showTab('tensors');
    const cells = await numericCells();
    assert.deepEqual(cells.clipped, [], 'no numeric cell is wider than its column');
    assert.ok(cells.notations.length === 5 && cells.notations.every((notations) => notations.length === 1), `one format per column: ${JSON.stringify(cells.notations)}`);
    const domRows = await page.locator('.table-row').count();
    const displayedHidden = await page.$$eval('.table-row[hidden]', (rows) => rows.filter((row) => getComputedStyle(row).display !== 'none').length);
    assert.equal(displayedHidden, 0, 'recycled rows that are hidden are not displayed');
    assert.ok(domRows > 10 && domRows < 200, `only visible rows exist (${domRows})`);

    const byRelative = report.tensors.filter((t) => typeof t.relativeNorm === 'number').sort((x, y) => y.relativeNorm - x.relativeNorm);
    assert.equal((await visibleNames())[0], byRelative[0].name, 'default sort: relative norm, descending');

    await page.locator('button.sort[data-key="relativeNorm"]').click();
    const ascending = await page.locator('.table-row:not([hidden])[data-index="0"] .cell:nth-child(7)').textContent();
    assert.equal(ascending, '0', 'ascending puts the unchanged tensors first');

    await page.locator('button.sort[data-key="maxAbsDelta"]').click();
    const maxAbs = report.tensors.filter((t) => typeof t.maxAbsDelta === 'number').sort((x, y) => y.maxAbsDelta - x.maxAbsDelta);
    assert.equal((await visibleNames())[0], maxAbs[0].name, 'max |delta| descending');

    const sortStarted = Date.now();
    await page.locator('button.sort[data-key="name"]').click();
    console.log(`# sort by name of ${TENSORS} rows: ${Date.now() - sortStarted} ms (click to settled)`);
    const names = await visibleNames();
    const sorted = [...names].sort((x, y) => x.localeCompare(y, undefined, { numeric: true }));
    assert.deepEqual(names, sorted, 'visible rows in name order');

    await page.locator('#tensor-filter input').fill('experts.7.w2');
    const expected = report.tensors.filter((t) => t.name.toLowerCase().includes('experts.7.w2')).length;
    assert.ok(expected > 1);
    await page.locator('.row-count', { hasText: `${expected} of 5,000 tensors` }).waitFor({ state: 'attached' });
    assert.ok((await visibleNames()).every((name) => name.includes('experts.7.w2')));

    await page.locator('#tensor-filter input').fill('');
    await page.locator('.table-scroll').evaluate((scroller) => { scroller.scrollTop = scroller.scrollHeight; });
    await page.waitForFunction(() => document.querySelector('.table-row[aria-rowindex="5001"]:not([hidden])') !== null);
  });

  test('a selected tensor shows its histogram; a status filter comes from the summary', async () => {
    await page.locator('.table-scroll').evaluate((scroller) => { scroller.scrollTop = 0; });
    await page.locator('#tensor-filter input').fill(HOSTILE_TENSORS.bidi);
    await page.locator('.row-count', { hasText: '1 of 5,000 tensors' }).waitFor({ state: 'attached' });
    assert.equal(await page.locator('.table-row:visible').count(), 1, 'one row on screen');
    await page.locator('.table-row:not([hidden])').first().click();
    await page.locator('.histogram canvas').waitFor();
    const bars = await countPixelsNear(page.locator('.histogram canvas'), [0x37, 0x94, 0xff], 8);
    assert.ok(bars > 2000, `histogram bars drawn (${bars} pixels)`);
    const heading = await page.locator('.histogram h3').textContent();
    assert.ok(heading.includes('U+202E'), heading);
    await page.screenshot({ path: join(SCREENSHOTS, 'standalone-tensors-dark.png') });

    await page.locator('#tensor-filter input').fill('');
    await showTab('overview');
    await page.locator('.status-count[data-status="shape-mismatch"]').click();
    await page.locator('.row-count', { hasText: '2 of 5,000 tensors' }).waitFor({ state: 'attached' });
    const names = await visibleNames();
    assert.deepEqual(names.sort(), ['lm_head.weight', 'model.embed_tokens.weight']);

    await page.locator('#action-export-csv').click();
    const exported = await page.evaluate(() => window.__posted.filter((m) => m.type === 'export').at(-1));
    assert.equal(exported.format, 'csv');
    const lines = exported.content.trim().split('\r\n');
    assert.equal(lines.length, 3, 'header and the two filtered rows');
    // The filter was set on another tab: the button and the notice say what the CSV holds.
    assert.equal(await page.locator('#action-export-csv').textContent(), 'Export CSV (2 of 5,000 rows)');
    assert.equal(exported.rows, '2 of 5,000 tensors, as the table is filtered (status shape-mismatch)');
    assert.equal(exported.suggestedName, 'diff-tensors-filtered.csv');
    await post({ type: 'actionResult', action: 'export', ok: true, message: 'Exported /tmp/diff-tensors-filtered.csv.' });
    assert.equal(await page.locator('.status-line').textContent(),
      'Exported /tmp/diff-tensors-filtered.csv: 2 of 5,000 tensors, as the table is filtered (status shape-mismatch).');
  });

  test('the tokenizer and config sections show the diff side by side', async () => {
    await showTab('tokenizer');
    assert.equal(await page.locator('.side-by-side .line.added').count(), 4);
    assert.equal(await page.locator('table.tokens tbody tr').count(), 3);
    await page.screenshot({ path: join(SCREENSHOTS, 'standalone-tokenizer-dark.png'), fullPage: true });
    await showTab('config');
    assert.equal(await page.locator('table.config-changes tbody tr').count(), 2);
  });

  test('the view comes back from its saved state after a reload', async () => {
    // State is saved once updates pause; wait for the save before reloading.
    await page.waitForFunction(() => sessionStorage.getItem('state') !== null);
    await page.waitForTimeout(700);
    await open('dark', { clearState: false });
    const ready = await page.evaluate(() => window.__posted.find((m) => m.type === 'ready'));
    assert.equal(ready.restored, true);
    assert.equal(await page.locator('vscode-tab-panel[data-tab="config"]').isVisible(), true, 'the config tab is still the active one');
    await showTab('tensors');
    await page.locator('.row-count', { hasText: '2 of 5,000 tensors' }).waitFor({ state: 'attached' });
  });

  test('numbers of extreme size keep one format per column and fit it', async () => {
    await showTab('tensors');
    const extreme = makeReport({ tensors: 60 });
    const values = [[-1.234e-10, 9.876e-11], [123456.7, 0.5], [-0.99999, 1], [3.2e-9, 7e-10]];
    extreme.tensors.filter((t) => t.status === 'changed').slice(0, 2).forEach((t, i) => {
      [t.deltaNorm, t.relativeNorm, t.cosine, t.maxAbsDelta] = values.map((pair) => pair[i]);
      t.zeroFraction = i === 0 ? 1 : 0.123456;
    });
    // The status filter from the summary is still set (restored after the reload): clear it.
    await page.locator('#status-filter').evaluate((select) => {
      select.value = '';
      select.dispatchEvent(new Event('change'));
    });
    await post({ type: 'report', report: extreme });
    await page.locator('.row-count', { hasText: '60 of 60 tensors' }).waitFor({ state: 'attached' });
    const cells = await numericCells();
    assert.deepEqual(cells.clipped, [], 'the longest values (-1.234e-10, 1.235e+5, 100.00%) fit their columns');
    assert.ok(cells.notations.every((notations) => notations.length === 1), `one format per column: ${JSON.stringify(cells.notations)}`);
  });

  test('the spectra section: a line per module across the layers, the provider, the lowest ranks as text', async () => {
    await open('dark');
    await post({ type: 'report', report: makeReport({ tensors: 200 }) });
    await page.locator('.row-count', { hasText: '200 of 200 tensors' }).waitFor({ state: 'attached' });
    assert.equal(await page.locator('section.spectra').isHidden(), true, 'no spectra, no section');

    await post({ type: 'report', report: spectraReport });
    await page.locator('.row-count', { hasText: '1,500 of 1,500 tensors' }).waitFor({ state: 'attached' });
    await page.locator('section.spectra').waitFor({ state: 'visible' });
    assert.equal(await page.locator('.spectra-provider').textContent(), SPECTRA_PROVIDER);
    const drawn = await countLinePixels();
    assert.ok(drawn > MIN_SPECTRA_LINE_PIXELS, `spectra lines drawn (${drawn} coloured pixels)`);
    // The rank the report's spectra were computed at (64), in the header and the table's energy columns.
    assert.equal(await page.locator('section.spectra h2').textContent(), 'Spectra of the deltas per layer: top 64 singular values per matrix');
    assert.deepEqual(await page.locator('table.spectra-lowest thead th').allTextContents(),
      ['Tensor', 'Layer', 'Module', 'Shape', 'Effective rank', 'Energy, top 8', 'Energy, top 16', 'Energy, top 64']);
    // Eight modules: seven Okabe-Ito colours, each drawn (the eighth repeats the first, dashed).
    for (const colour of OKABE_ITO_DARK) {
      const pixels = await countPixelsNear(page.locator('.spectra canvas'), colour, 6);
      assert.ok(pixels > 40, `the line in rgb(${colour.join(', ')}) is drawn (${pixels} pixels)`);
    }

    // The lowest effective ranks are the three hostile matrices (ties in name order), shown as text.
    const rows = page.locator('table.spectra-lowest tbody tr');
    assert.equal(await rows.count(), 10);
    const names = await rows.evaluateAll((trs) => trs.slice(0, 3).map((tr) => tr.querySelector('td')?.textContent));
    const bidiShown = HOSTILE_TENSORS.bidi.replace('‮', 'U+202E');
    assert.deepEqual([...names].sort(), [bidiShown, HOSTILE_TENSORS.img, HOSTILE_TENSORS.script].sort());
    assert.equal(await page.locator('table.spectra-lowest .control-char', { hasText: 'U+202E' }).count(), 1);
    const firstRank = await rows.first().locator('td').nth(4).textContent();
    const lowest = spectraReport.tensors.filter((t) => t.spectra !== undefined)
      .reduce((x, y) => (y.spectra.effectiveRank < x.spectra.effectiveRank ? y : x)).spectra;
    assert.equal(firstRank, `${lowest.effectiveRank.toPrecision(4)} of ${lowest.singularValues.length}`);
    assert.deepEqual(await page.evaluate(() => ({ images: document.querySelectorAll('img').length, pwned: window.__pwned === true })),
      { images: 0, pwned: false });
    await page.locator('section.spectra').screenshot({ path: join(SCREENSHOTS, 'standalone-spectra-dark.png') });

    // Another metric redraws the chart on a 0-100% axis.
    const before = await page.locator('.spectra canvas').evaluate((canvas) => canvas.toDataURL());
    const metrics = await page.$$eval('#spectra-metric vscode-option', (options) => options.map((option) => option.value));
    assert.deepEqual(metrics, ['effectiveRank', 'energy8', 'energy16', 'energy64'],
      'no energy at 256 from a pass at rank 64, though the 16-row matrices have it from their whole spectrum');
    await page.locator('#spectra-metric').evaluate((select) => {
      select.value = 'energy8';
      select.dispatchEvent(new Event('change'));
    });
    const after = await page.locator('.spectra canvas').evaluate((canvas) => canvas.toDataURL());
    assert.notEqual(after, before, 'the chart was redrawn');
    assert.ok(await countLinePixels() > MIN_SPECTRA_LINE_PIXELS, 'energy lines drawn');

    // A row of the table selects its tensor.
    await rows.first().locator('button.link').click();
    await page.locator('vscode-tab-panel[data-tab="tensors"]').waitFor({ state: 'visible' });
    const heading = await page.locator('.histogram h3').textContent();
    assert.equal(heading, `Delta histogram of ${names[0]}`);
  });

  test('a live run fills in from batches of tensor reports', async () => {
    await open('dark');
    await post({ type: 'begin', a: report.a, b: report.b, tensorsTotal: TENSORS });
    const batch = 100;
    for (let i = 0; i < report.tensors.length; i += batch) {
      await post({ type: 'tensors', tensors: report.tensors.slice(i, i + batch) });
    }
    await page.locator('.status-line', { hasText: "Compared 5,000 of 5,000 tensors" }).waitFor();
    await page.locator('.row-count', { hasText: '5,000 of 5,000 tensors' }).waitFor({ state: 'attached' });
    // The heatmap redraws on a timer during a live run; wait for the last one.
    await page.waitForTimeout(400);
    assert.ok(await countHeatPixels() > 5000, 'heatmap drawn from the live tensors');
    const counts = await page.locator('.status-count[data-status="changed"] .count').textContent();
    assert.equal(Number(counts), report.summary.counts.changed);
    await post({ type: 'failed', message: 'The job was cancelled. [cancelled]', cancelled: false });
    await page.locator('.failure h2', { hasText: 'The comparison was cancelled' }).waitFor();
    assert.match(await page.locator('.failure-progress').textContent(), /^5,000 of 5,000 tensors were compared before it stopped/);
    assert.equal(await page.locator('.failure .rule').count(), 0, 'a cancellation shows no rule');
  });

  test('a failed run shows the rule, the message and a retry, not empty states or live buttons', async () => {
    await open('dark');
    await post({ type: 'source', residual: true });
    await post({ type: 'begin', a: report.a, b: report.b, tensorsTotal: 291 });
    await post({ type: 'failed', cancelled: false,
      message: 'shard-00002-of-00003.safetensors, tensor "model.layers.7.mlp.down_proj.weight": the file ends 4,194,304 bytes before the tensor\'s data [truncated-file]' });
    await page.locator('.failure').waitFor({ state: 'visible' });
    assert.equal(await page.locator('.failure h2').textContent(), 'The comparison failed');
    assert.equal(await page.locator('.failure .rule').textContent(), 'truncated-file');
    assert.equal(await page.locator('.failure-message').textContent(),
      'shard-00002-of-00003.safetensors, tensor "model.layers.7.mlp.down_proj.weight": the file ends 4,194,304 bytes before the tensor\'s data');
    assert.equal(await page.locator('.failure-progress').textContent(), 'No tensor was compared before it stopped, so there is nothing to show.');
    const text = await page.locator('body').innerText();
    assert.ok(!text.includes('Every tensor has the same name'), 'no false empty state');
    assert.equal(await page.locator('vscode-tabs').isHidden(), true, 'nothing compared: no tabs of empty sections');
    for (const id of ['apply', 'card', 'export-json', 'export-csv']) assert.equal(await page.locator(`#action-${id}`).isHidden(), true, `${id} is not offered`);
    await page.screenshot({ path: join(SCREENSHOTS, 'standalone-failed-dark.png') });
    await page.locator('#action-retry').click();
    assert.deepEqual(await page.evaluate(() => window.__posted.at(-1)), { type: 'retry' });

    // Stopped after 40 tensors: they show, and the empty states say how far the run got.
    await post({ type: 'begin', a: report.a, b: report.b, tensorsTotal: 291 });
    assert.equal(await page.locator('.failure').isHidden(), true, 'a new run clears the failure');
    assert.equal(await page.locator('#action-apply').isHidden(), true, 'no Apply while a run is live');
    assert.equal(await page.locator('#action-export-csv').evaluate((button) => button.disabled), true, 'no export of half a report');
    const clean = report.tensors.filter((t) => t.status === 'changed').slice(0, 40);
    await post({ type: 'tensors', tensors: clean });
    await post({ type: 'failed', cancelled: false, message: 'EIO: i/o error, read', rule: 'io-error' });
    await page.locator('.failure-progress', { hasText: '40 of 291 tensors were compared' }).waitFor();
    assert.equal(await page.locator('.failure .rule').textContent(), 'io-error');
    assert.equal(await page.locator('vscode-tabs').isVisible(), true);
    assert.equal(await page.locator('.mismatch-box').textContent(),
      'No mismatch among the 40 of 291 tensors compared before the run stopped; the others were not compared.');
  });

  test('a live run shows the spectra as they arrive, after the tensors', async () => {
    await open('dark');
    await post({ type: 'begin', a: spectraReport.a, b: spectraReport.b, tensorsTotal: SPECTRA_TENSORS });
    const withoutSpectra = spectraReport.tensors.map(({ spectra, ...tensor }) => tensor);
    await post({ type: 'tensors', tensors: withoutSpectra });
    await page.locator('.row-count', { hasText: '1,500 of 1,500 tensors' }).waitFor({ state: 'attached' });
    await page.waitForTimeout(400);
    assert.equal(await page.locator('section.spectra').isHidden(), true, 'no spectra during the delta pass');
    // The spectral pass sends the same tensors again, with their spectra; the run has no provider line of its own yet.
    await post({ type: 'tensors', tensors: spectraReport.tensors.filter((t) => t.spectra !== undefined) });
    await page.locator('section.spectra').waitFor({ state: 'visible' });
    assert.equal(await page.locator('.spectra-provider').textContent(), SPECTRA_PROVIDER);
    await page.waitForTimeout(400);
    assert.ok(await countLinePixels() > MIN_SPECTRA_LINE_PIXELS, 'spectra drawn from the live tensors');
    assert.equal(await page.locator('.row-count').textContent(), '1,500 of 1,500 tensors', 'replaced, not added');
  });

  for (const theme of ['light', 'hc']) {
    test(`draws in the ${theme} theme`, async () => {
      await open(theme);
      // A compute's result (the host says it is a residual): Apply and the model card apply.
      await post({ type: 'source', residual: true });
      await post({ type: 'report', report });
      await page.locator('.row-count', { hasText: '5,000 of 5,000 tensors' }).waitFor({ state: 'attached' });
      assert.ok(await countHeatPixels() > 5000, 'heatmap cells drawn');
      assert.equal(await page.locator('#action-apply').isVisible(), true, 'Apply on a residual');
      assert.equal(await page.locator('#action-card').isVisible(), true, 'the model card on a residual');
      await page.screenshot({ path: join(SCREENSHOTS, `standalone-overview-${theme}.png`), fullPage: true });
      await post({ type: 'report', report: spectraReport });
      await page.locator('section.spectra').waitFor({ state: 'visible' });
      assert.ok(await countLinePixels() > MIN_SPECTRA_LINE_PIXELS, 'spectra lines drawn');
      await page.locator('section.spectra').screenshot({ path: join(SCREENSHOTS, `standalone-spectra-${theme}.png`) });
    });
  }

  test('nothing was blocked by the CSP and nothing failed', async () => {
    const violations = await page.evaluate(() => window.__violations);
    assert.deepEqual(violations, []);
    const logged = await page.evaluate(() => window.__posted.filter((m) => m.type === 'log'));
    assert.deepEqual(logged, []);
    assert.deepEqual(problems, { console: [], page: [], dialogs: [] });
  });
});
