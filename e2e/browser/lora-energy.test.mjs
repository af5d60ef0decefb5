// The report's energy-against-rank chart in headless Chromium on the standalone page (the test plays the host):
// a line per module in the spectra chart's colours, in the dark, light and high-contrast themes; the rank picker's
// marker and table; and "Export as LoRA adapter at rank N..." posting that rank to the host.
// Screenshots in .test-output/screenshots (lora-energy-*.png).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeReport } from './make-report.mjs';
import { closeStandalonePage, openStandalonePage, SCREENSHOTS } from './standalone-page.mjs';

const report = withSpectraPerModule(makeReport({ tensors: 600, spectra: true }));
/**
 * The Okabe-Ito colours of the first seven lines (webview/spectra-model.ts): without black on a dark background,
 * without yellow on a light one.
 */
const OKABE_ITO = {
  dark: [[0x56, 0xb4, 0xe9], [0xe6, 0x9f, 0x00], [0x00, 0x9e, 0x73], [0xcc, 0x79, 0xa7], [0xf0, 0xe4, 0x42], [0x00, 0x72, 0xb2], [0xd5, 0x5e, 0x00]],
  light: [[0x00, 0x72, 0xb2], [0xe6, 0x9f, 0x00], [0x00, 0x9e, 0x73], [0xcc, 0x79, 0xa7], [0x00, 0x00, 0x00], [0x56, 0xb4, 0xe9], [0xd5, 0x5e, 0x00]],
};

/**
 * The report's spectra with a decay of the singular values (s_i = i^-decay) per module, steeper for each module in
 * turn, so that every module's line lies apart from the others.
 */
function withSpectraPerModule(report) {
  const modules = [...new Set(report.tensors.filter((t) => t.spectra).map((t) => t.module))];
  for (const tensor of report.tensors) {
    if (!tensor.spectra) continue;
    const decay = 0.15 + 0.3 * modules.indexOf(tensor.module);
    const values = tensor.spectra.singularValues.map((_, i) => (i + 1) ** -decay);
    // The values computed hold 95% of the energy; the tail past them the rest.
    const norm = Math.sqrt(values.reduce((sum, v) => sum + v * v, 0) / 0.95);
    tensor.spectra = { ...tensor.spectra, singularValues: values, frobeniusNorm: norm };
  }
  return report;
}

let server;
let browser;
let page;
const problems = { console: [], page: [] };

async function open(theme) {
  await page.goto(`${server.url}/e2e/browser/standalone.html?theme=${theme}&fresh`);
  await page.waitForFunction(() => window.__posted.some((m) => m.type === 'ready'));
  await page.evaluate((r) => window.postMessage({ type: 'report', report: r }, '*'), report);
  await page.evaluate(() => window.postMessage({ type: 'source', residual: false }, '*'));
  await page.locator('section.energy-rank').waitFor({ state: 'visible' });
}

/** For each colour, the chart's pixels near it and how far they spread across the canvas. */
function linesByColour(colours) {
  return page.locator('section.energy-rank canvas').evaluate((canvas, colours) => {
    const { width, height } = canvas;
    const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    return colours.map((rgb) => {
      let pixels = 0;
      let left = width;
      let right = -1;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 200 && rgb.every((value, k) => Math.abs(data[i + k] - value) <= 6)) {
          pixels += 1;
          const x = (i / 4) % width;
          left = Math.min(left, x);
          right = Math.max(right, x);
        }
      }
      return { pixels, width: Math.max(0, right - left), canvasWidth: width };
    });
  }, colours);
}

/** Cells of the table whose text does not fit, and names broken inside a component. */
function clippedCells() {
  return page.$$eval('table.energy-at-rank td, table.energy-at-rank th', (cells) => cells.filter((cell) => cell.scrollWidth > cell.clientWidth + 1)
    .map((cell) => cell.textContent));
}

describe('energy against rank, standalone', () => {
  before(async () => {
    ({ server, browser, page } = await openStandalonePage(problems));
  });

  after(() => closeStandalonePage(browser, server));

  for (const theme of ['dark', 'light', 'hc']) {
    test(`a line per module in the spectra chart's colours, ${theme} theme`, async () => {
      await open(theme);
      const section = page.locator('section.energy-rank');
      assert.equal(await section.locator('h2').textContent(), 'Energy against rank');
      // The report's spectra are at rank 64: the picker spans 1 to 64 and starts at the export's default, 64.
      assert.equal(await page.locator('#energy-rank').evaluate((field) => field.value), '64');
      assert.equal(await page.locator('#energy-rank-slider').getAttribute('max'), '64');
      const modules = await section.locator('table.energy-at-rank tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.module));
      assert.ok(modules.length >= 7, `a row per module: ${modules.join(', ')}`);
      const palette = OKABE_ITO[theme === 'light' ? 'light' : 'dark'];
      await page.waitForTimeout(300);
      const lines = await linesByColour(palette);
      for (const [index, line] of lines.entries()) {
        // A line across the ranks, not the legend's swatch alone.
        assert.ok(line.pixels > 60 && line.width > line.canvasWidth / 3, `the line in rgb(${palette[index].join(', ')}) is drawn: ${JSON.stringify(line)}`);
      }
      // Every module's share is a percentage, and the swatches take the lines' colours in order.
      const swatches = await section.locator('table.energy-at-rank .swatch').evaluateAll((spans) => spans.map((span) => getComputedStyle(span).backgroundColor));
      assert.deepEqual(swatches.slice(0, 7), palette.map(([r, g, b]) => `rgb(${r}, ${g}, ${b})`));
      assert.deepEqual(await clippedCells(), [], 'nothing clipped in the table');
      assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no CSP violations');
      await section.screenshot({ path: join(SCREENSHOTS, `lora-energy-${theme}.png`) });
    });
  }

  test('picking rank 16 moves the marker, lists each module\'s energy there, and the export posts rank 16', async () => {
    await open('dark');
    const section = page.locator('section.energy-rank');
    const canvas = section.locator('canvas');
    const before = await canvas.evaluate((element) => element.toDataURL());
    const atDefault = await section.locator('table.energy-at-rank tbody td.numeric').first().textContent();
    await page.locator('#energy-rank').evaluate((field) => {
      field.value = '16';
      field.dispatchEvent(new Event('input'));
    });
    await section.locator('table.energy-at-rank th', { hasText: 'Energy at rank 16' }).waitFor();
    assert.equal(await page.locator('#energy-rank-slider').evaluate((slider) => slider.value), '16', 'the slider follows the field');
    assert.notEqual(await canvas.evaluate((element) => element.toDataURL()), before, 'the marker moved');
    const atSixteen = await section.locator('table.energy-at-rank tbody td.numeric').first().textContent();
    assert.ok(Number.parseFloat(atSixteen) < Number.parseFloat(atDefault), `less energy at rank 16 (${atSixteen}) than at 64 (${atDefault})`);
    const button = page.locator('#action-export-lora-rank');
    assert.equal(await button.textContent(), 'Export as LoRA adapter at rank 16…');
    await button.click();
    assert.deepEqual(await page.evaluate(() => window.__posted.filter((m) => m.type === 'exportLora')), [{ type: 'exportLora', rank: 16 }]);

    // A rank past the values computed is not taken: the export waits for one it can take.
    await page.locator('#energy-rank').evaluate((field) => {
      field.value = '65';
      field.dispatchEvent(new Event('input'));
    });
    assert.equal(await button.evaluate((element) => element.disabled), true);
    // The slider picks again.
    await page.locator('#energy-rank-slider').evaluate((slider) => {
      slider.value = '8';
      slider.dispatchEvent(new Event('input'));
    });
    assert.equal(await button.textContent(), 'Export as LoRA adapter at rank 8…');
    assert.equal(await page.locator('#energy-rank').evaluate((field) => field.value), '8');
    await section.screenshot({ path: join(SCREENSHOTS, 'lora-energy-rank-8.png') });
    assert.deepEqual(problems, { console: [], page: [] });
  });

  test('a report of one model alone offers no export', async () => {
    await open('dark');
    const single = { ...report, b: undefined };
    await page.evaluate((r) => window.postMessage({ type: 'report', report: r }, '*'), single);
    await page.waitForTimeout(200);
    assert.equal(await page.locator('#action-export-lora-rank').isHidden(), true, 'nothing to export');
    assert.equal(await page.locator('#action-export-lora').isHidden(), true, 'no residual, no Export in the actions');
  });
});
