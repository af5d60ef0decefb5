// The report webview in headless Chromium, outside VS Code: the standalone page mocks
// acquireVsCodeApi and the test plays the host (postMessage). 5,000 tensors with hostile names,
// with the spectra `diff --spectra` attaches to the 2-D deltas.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchBrowser } from '../lib/browser.mjs';
import { REPO_ROOT } from '../lib/code-server.mjs';
import { buildWebview } from './build-webview.mjs';
import { HOSTILE, HOSTILE_TENSORS, makeReport, SPECTRA_PROVIDER } from './make-report.mjs';
import { startStaticServer } from './static-server.mjs';

const SCREENSHOTS = join(REPO_ROOT, '.test-output', 'screenshots');
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

let server;
let browser;
let page;
const problems = { console: [], page: [], dialogs: [] };

/** Pixels of a canvas close to a colour (the heatmap's hot end, the histogram's bars). */
async function countPixelsNear(selector, rgb, tolerance) {
  return page.evaluate(({ selector, rgb, tolerance }) => {
    const canvas = document.querySelector(selector);
    if (!(canvas instanceof HTMLCanvasElement) || canvas.width === 0) return -1;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) <= tolerance && Math.abs(data[i + 1] - rgb[1]) <= tolerance
        && Math.abs(data[i + 2] - rgb[2]) <= tolerance) count += 1;
    }
    return count;
  }, { selector, rgb, tolerance });
}

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

async function rowCountText() {
  return page.locator('.row-count').textContent();
}

async function visibleNames() {
  return page.$$eval('.table-row:not([hidden])', (rows) => rows
    .sort((x, y) => Number(x.dataset.index) - Number(y.dataset.index))
    .map((row) => row.querySelector('.cell')?.getAttribute('title')));
}

async function showTab(id) {
  await page.locator(`vscode-tab-header[data-tab="${id}"]`).click();
  await page.locator(`vscode-tab-panel[data-tab="${id}"]`).waitFor({ state: 'visible' });
}

describe('report webview, standalone', () => {
  before(async () => {
    await buildWebview(REPO_ROOT);
    await mkdir(SCREENSHOTS, { recursive: true });
    server = await startStaticServer(REPO_ROOT);
    browser = await launchBrowser({ viewport: { width: 1400, height: 1000 } });
    page = browser.page;
    page.on('console', (message) => { if (message.type() === 'error') problems.console.push(message.text()); });
    page.on('pageerror', (error) => problems.page.push(error.message));
    page.on('dialog', async (dialog) => { problems.dialogs.push(dialog.message()); await dialog.dismiss(); });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

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
    await page.screenshot({ path: join(SCREENSHOTS, 'standalone-overview-dark.png'), fullPage: true });
  });

  test('the table is virtualised, sorts and filters', async () => {
    await showTab('tensors');
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
    const bars = await countPixelsNear('.histogram canvas', [0x37, 0x94, 0xff], 8);
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
    assert.equal(firstRank, `${Number(lowest.effectiveRank.toPrecision(4))} of ${lowest.singularValues.length}`);
    assert.deepEqual(await page.evaluate(() => ({ images: document.querySelectorAll('img').length, pwned: window.__pwned === true })),
      { images: 0, pwned: false });
    await page.locator('section.spectra').screenshot({ path: join(SCREENSHOTS, 'standalone-spectra-dark.png') });

    // Another metric redraws the chart on a 0-100% axis.
    const before = await page.locator('.spectra canvas').evaluate((canvas) => canvas.toDataURL());
    const metrics = await page.$$eval('#spectra-metric vscode-option', (options) => options.map((option) => option.value));
    assert.deepEqual(metrics, ['effectiveRank', 'energy8', 'energy16', 'energy64', 'energy256'],
      'energy at 256 only from the matrices with at most 256 columns (their whole spectrum)');
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
    await page.locator('.status-line', { hasText: `Compared ${TENSORS} of ${TENSORS} tensors` }).waitFor();
    await page.locator('.row-count', { hasText: '5,000 of 5,000 tensors' }).waitFor({ state: 'attached' });
    // The heatmap redraws on a timer during a live run; wait for the last one.
    await page.waitForTimeout(400);
    assert.ok(await countHeatPixels() > 5000, 'heatmap drawn from the live tensors');
    const counts = await page.locator('.status-count[data-status="changed"] .count').textContent();
    assert.equal(Number(counts), report.summary.counts.changed);
    await post({ type: 'failed', message: 'cancelled by the user', cancelled: true });
    assert.match(await page.locator('.status-line').textContent(), /Cancelled: cancelled by the user/);
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
      await post({ type: 'report', report });
      await page.locator('.row-count', { hasText: '5,000 of 5,000 tensors' }).waitFor({ state: 'attached' });
      assert.ok(await countHeatPixels() > 5000, 'heatmap cells drawn');
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
