// The report view as users meet it, in the real workbench (code-server with the extension under
// development) on the demo workspace: the heatmap from the keyboard and the histogram that follows its
// filter, CSV export of what the table shows (saved through the workbench's own dialog), the spectra
// chart at the rank the settings ask for, a refused Compute's failure box whose Retry runs the job again
// once the cause is fixed, and the Checkpoints view's menu on the residual that run wrote.
// Screenshots in .test-output/screenshots (report-*.png, checkpoints-*.png).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { countPixelsNear, webviewFrame } from '../lib/browser.mjs';
import { REPO_ROOT } from '../lib/code-server.mjs';
import { closeSuiteWorkbench, openSuiteWorkbench, quickPickRow, runCommand, SCREENSHOTS, STEP_TIMEOUT_MS, withFailureScreenshot } from '../lib/workbench.mjs';

const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
/** The demo's tensors (4 layers of a Llama-like model, embeddings, head and final norm). */
const DEMO_TENSORS = 39;
/** Layer 0's cells in the demo, in architecture order: attention, MLP, norms. */
const LAYER_0 = ['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'input_norm', 'post_attn_norm'].map((module) => `0|${module}`);
/**
 * The Okabe-Ito colours of the spectra chart's first seven lines (webview/spectra-model.ts): without black
 * on a dark theme, without yellow on a light one (code-server's default).
 */
const OKABE_ITO = {
  dark: [[0x56, 0xb4, 0xe9], [0xe6, 0x9f, 0x00], [0x00, 0x9e, 0x73], [0xcc, 0x79, 0xa7], [0xf0, 0xe4, 0x42], [0x00, 0x72, 0xb2], [0xd5, 0x5e, 0x00]],
  light: [[0x00, 0x72, 0xb2], [0xe6, 0x9f, 0x00], [0x00, 0x9e, 0x73], [0xcc, 0x79, 0xa7], [0x00, 0x00, 0x00], [0x56, 0xb4, 0xe9], [0xd5, 0x5e, 0x00]],
};

let workspace;
let workbench;
let page;

async function makeWorkspace() {
  const folder = await mkdtemp(join(tmpdir(), 'surgeon-report-ws-'));
  await promisify(execFile)(TSX, [join(REPO_ROOT, 'e2e', 'lib', 'make-demo-workspace.ts'), folder]);
  await promisify(execFile)(TSX, [join(REPO_ROOT, 'e2e', 'lib', 'make-spectra-pair.ts'), folder]);
  // The workspace's settings file exists from the start, so that VS Code watches it for the changes below.
  await mkdir(join(folder, '.vscode'));
  await writeFile(join(folder, '.vscode', 'settings.json'), '{}\n');
  return folder;
}

/** Workspace settings, as the Settings editor writes them; VS Code picks the file up on its own. */
async function setWorkspaceSettings(settings) {
  await mkdir(join(workspace, '.vscode'), { recursive: true });
  await writeFile(join(workspace, '.vscode', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
}

async function pickFolder(name) {
  const row = quickPickRow(page, name);
  await row.waitFor({ timeout: STEP_TIMEOUT_MS });
  await row.click();
}

async function compare(a, b) {
  await runCommand(page, 'Checkpoint Surgeon: Compare Checkpoints');
  await pickFolder(a);
  await pickFolder(b);
}

async function closeEditors() {
  await page.keyboard.press('Escape');
  // Out of any webview (a preview keeps F1 to itself): the side bar's title takes the focus.
  await page.locator('.part.sidebar .composite.title').click();
  await runCommand(page, 'View: Close All Editors');
}

/**
 * Compares the wide pair until its report shows spectra at `rank`: VS Code reads a changed settings
 * file on its own, a moment after it was written, so a run may start before the change is seen.
 */
async function compareWithSpectraAt(view, rank) {
  for (let attempt = 1; ; attempt++) {
    // In a fresh tab each time, so that the report waited for is this run's.
    await closeEditors();
    await compare('wide-base', 'wide-instruct');
    await view.locator('.row-count', { hasText: /^30 of 30 tensors$/ }).waitFor({ state: 'attached', timeout: STEP_TIMEOUT_MS });
    await reportFinished(view);
    const heading = await view.locator('section.spectra:not([hidden]) h2').textContent({ timeout: 1_000 }).catch(() => null);
    if (heading?.includes(`top ${rank} singular values`)) return;
    if (attempt === 3) throw new Error(`no spectra at rank ${rank} after ${attempt} runs: ${heading}`);
    await page.waitForTimeout(2_000);
  }
}

/** The theme's colour the histogram's bars take (charts.blue), as [r, g, b]. */
function chartsBlue(view) {
  return view.locator('body').evaluate(() => {
    const probe = document.createElement('span');
    probe.style.color = 'var(--vscode-charts-blue)';
    document.body.appendChild(probe);
    const rgb = getComputedStyle(probe).color.match(/\d+/g).slice(0, 3).map(Number);
    probe.remove();
    return rgb;
  });
}

/** Waits until the report's run has finished: no status line, the exports enabled. */
async function reportFinished(view) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const finished = await view.locator('#action-export-json').evaluate((button) => !button.disabled
      && document.querySelector('.status-line')?.textContent === '');
    if (finished) return;
    if (Date.now() > deadline) throw new Error('the report\'s run did not finish');
    await page.waitForTimeout(200);
  }
}

/**
 * For each colour, the pixels of the spectra chart's plot near it and how wide they spread: the plot is
 * the canvas above its legend (the lowest band of coloured pixels, below the grey axis labels).
 */
function linesByColour(canvas, colours) {
  return canvas.evaluate((element, colours) => {
    const { width, height } = element;
    const data = element.getContext('2d').getImageData(0, 0, width, height).data;
    const saturated = (i) => data[i + 3] > 200 && Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60;
    const colouredRow = (y) => {
      for (let x = 0; x < width; x++) if (saturated((y * width + x) * 4)) return true;
      return false;
    };
    let y = height - 1;
    while (y > 0 && !colouredRow(y)) y -= 1;
    while (y > 0 && colouredRow(y)) y -= 1;
    const plotBottom = y;
    return colours.map((rgb) => {
      let pixels = 0;
      let left = width;
      let right = -1;
      for (let row = 0; row < plotBottom; row++) {
        for (let x = 0; x < width; x++) {
          const i = (row * width + x) * 4;
          if (data[i + 3] > 200 && rgb.every((value, k) => Math.abs(data[i + k] - value) <= 6)) {
            pixels += 1;
            left = Math.min(left, x);
            right = Math.max(right, x);
          }
        }
      }
      return { pixels, width: Math.max(0, right - left), canvasWidth: width, plotBottom };
    });
  }, colours);
}

/** Presses Tab inside the report until the heatmap has the focus, as a keyboard user would; returns the presses. */
async function tabToHeatmap(view) {
  const heatmap = view.locator('.heatmap-box');
  for (let presses = 1; presses <= 40; presses++) {
    await page.keyboard.press('Tab');
    if (await heatmap.evaluate((box) => document.activeElement === box)) return presses;
  }
  throw new Error('the heatmap was not reached with Tab');
}

/** Clicks a notification's button (the toasts of the workbench). */
async function clickNotificationButton(message, label) {
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: message }).first();
  await toast.waitFor({ timeout: STEP_TIMEOUT_MS });
  await toast.locator('.monaco-button', { hasText: label }).first().click();
}

/**
 * The workbench's save dialog (a quick input holding the path, filled in as it lists the folder): its
 * suggested path once it names a .csv file, accepted with Enter.
 */
async function acceptSaveDialog() {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let path = await input.inputValue();
  while (!path.endsWith('.csv') && Date.now() < deadline) {
    await page.waitForTimeout(100);
    path = await input.inputValue();
  }
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
  return path;
}

describe('the report view in the real workbench', { timeout: 500_000 }, () => {
  before(async () => {
    ({ workspace, workbench, page } = await openSuiteWorkbench(makeWorkspace));
  });

  after(() => closeSuiteWorkbench(workbench, workspace));

  test('the heatmap\'s cells are reached and activated from the keyboard, and the histogram follows', async () => {
    await withFailureScreenshot(page, 'report-heatmap', async () => {
      await compare('base', 'instruct');
      const view = webviewFrame(page);
      await view.locator('.row-count', { hasText: `${DEMO_TENSORS} of ${DEMO_TENSORS} tensors` }).waitFor({ state: 'attached', timeout: STEP_TIMEOUT_MS });
      await view.locator('.heatmap canvas').waitFor({ timeout: STEP_TIMEOUT_MS });
      // Into the webview with a click on its title, then only the keyboard.
      await view.locator('h1.title').click();
      const presses = await tabToHeatmap(view);
      const focused = () => view.locator('.heatmap-box').getAttribute('data-focused-cell');
      const visited = [await focused()];
      for (let i = 0; i < LAYER_0.length; i++) {
        await page.keyboard.press('ArrowRight');
        visited.push(await focused());
      }
      assert.deepEqual(visited, [...LAYER_0, LAYER_0.at(-1)], `layer 0 from left to right, in architecture order, after ${presses} Tabs`);
      assert.match(await view.locator('.heatmap [aria-live]').textContent(), /^layer 0, post_attn_norm: relative norm \d/, 'the focused cell is read out');
      for (const key of ['Home', 'ArrowRight', 'ArrowRight', 'ArrowDown', 'ArrowDown', 'ArrowDown']) await page.keyboard.press(key);
      assert.equal(await focused(), '3|v');
      await page.screenshot({ path: join(SCREENSHOTS, 'report-heatmap-focus.png') });

      // Enter lists the cell's tensor, as a click does; the histogram shows it.
      await page.keyboard.press('Enter');
      await view.locator('vscode-tab-panel[data-tab="tensors"]').waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
      await view.locator('.row-count', { hasText: `1 of ${DEMO_TENSORS} tensors` }).waitFor({ state: 'attached', timeout: STEP_TIMEOUT_MS });
      assert.equal(await view.locator('.chip').textContent(), 'layer 3 · v ✕');
      assert.equal(await view.locator('.histogram').getAttribute('data-tensor'), 'model.layers.3.self_attn.v_proj.weight');
      assert.equal(await view.locator('.histogram h3').textContent(), 'Delta histogram of model.layers.3.self_attn.v_proj.weight');
      await view.locator('.histogram canvas').waitFor({ timeout: STEP_TIMEOUT_MS });
      const bars = await countPixelsNear(view.locator('.histogram canvas'), await chartsBlue(view), 8);
      assert.ok(bars > 1000, `histogram bars drawn (${bars} pixels)`);
      const first = await view.locator('.histogram canvas').evaluate((canvas) => canvas.toDataURL());
      await page.screenshot({ path: join(SCREENSHOTS, 'report-heatmap-filter.png') });

      // Back on the overview, Space on another cell: the table and the histogram follow the new filter.
      await view.locator('vscode-tab-header[data-tab="overview"]').click();
      await tabToHeatmap(view);
      // The focus is where it was (layer 3 · v); Ctrl+Home goes to the first cell, End to a row's last.
      assert.equal(await focused(), '3|v');
      for (const key of ['Control+Home', 'ArrowDown', 'End']) await page.keyboard.press(key);
      assert.equal(await focused(), '1|post_attn_norm');
      for (let i = 0; i < 2; i++) await page.keyboard.press('ArrowLeft');
      assert.equal(await focused(), '1|down');
      await page.keyboard.press(' ');
      await view.locator('.chip', { hasText: 'layer 1 · down' }).waitFor({ timeout: STEP_TIMEOUT_MS });
      await view.locator('.row-count', { hasText: `1 of ${DEMO_TENSORS} tensors` }).waitFor({ state: 'attached' });
      await view.locator('.histogram[data-tensor="model.layers.1.mlp.down_proj.weight"]').waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.equal(await view.locator('.histogram h3').textContent(), 'Delta histogram of model.layers.1.mlp.down_proj.weight');
      const second = await view.locator('.histogram canvas').evaluate((canvas) => canvas.toDataURL());
      assert.notEqual(second, first, 'the histogram was redrawn for the new tensor');
    });
  });

  test('CSV export writes what the table shows and says so, and all rows once the filter is cleared', async () => {
    await withFailureScreenshot(page, 'report-export', async () => {
      const view = webviewFrame(page);
      const button = view.locator('#action-export-csv');
      assert.equal(await button.textContent(), `Export CSV (1 of ${DEMO_TENSORS} rows)`, 'the button says the export is narrowed');
      await button.click();
      const filtered = await acceptSaveDialog();
      assert.equal(filtered, join(workspace, 'diff-tensors-filtered.csv'));
      const status = view.locator('.status-line');
      await status.filter({ hasText: /^Exported / }).waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.equal(await status.textContent(),
        `Exported ${filtered}: 1 of ${DEMO_TENSORS} tensors, as the table is filtered (layer 1, down).`);
      const lines = (await readFile(filtered, 'utf8')).trim().split(/\r?\n/);
      assert.equal(lines.length, 2, `the header and the one row shown: ${lines.join(' | ')}`);
      assert.match(lines[1], /^"?model\.layers\.1\.mlp\.down_proj\.weight"?,/);
      await page.screenshot({ path: join(SCREENSHOTS, 'report-export-filtered.png') });

      // The chip clears the heatmap's filter: every row, and the button and notice say so.
      await view.locator('.chip').click();
      await view.locator('.row-count', { hasText: `${DEMO_TENSORS} of ${DEMO_TENSORS} tensors` }).waitFor({ state: 'attached', timeout: STEP_TIMEOUT_MS });
      assert.equal(await button.textContent(), 'Export CSV');
      await button.click();
      const all = await acceptSaveDialog();
      assert.equal(all, join(workspace, 'diff-tensors.csv'));
      await status.filter({ hasText: 'diff-tensors.csv' }).waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.equal(await status.textContent(), `Exported ${all}: all ${DEMO_TENSORS} tensors.`);
      assert.equal((await readFile(all, 'utf8')).trim().split(/\r?\n/).length, DEMO_TENSORS + 1, 'the header and every row');
    });
  });

  test('the spectra chart: the rank the settings ask for, a colour per module, points whole at the edge', async () => {
    await closeEditors();
    await withFailureScreenshot(page, 'report-spectra', async () => {
      const view = webviewFrame(page);
      const heading = view.locator('section.spectra h2');
      const energyColumns = () => view.locator('table.spectra-lowest thead th').allTextContents()
        .then((headers) => headers.filter((header) => header.startsWith('Energy')));

      await setWorkspaceSettings({ 'checkpointSurgeon.diff.spectra': true });
      await compareWithSpectraAt(view, 64);
      assert.equal(await heading.textContent(), 'Spectra of the deltas per layer: top 64 singular values per matrix', 'the default rank, 64');
      assert.deepEqual(await energyColumns(), ['Energy, top 8', 'Energy, top 16', 'Energy, top 64']);

      // At rank 256 (the setting's other documented value).
      await setWorkspaceSettings({ 'checkpointSurgeon.diff.spectra': true, 'checkpointSurgeon.diff.spectraRank': 256 });
      await compareWithSpectraAt(view, 256);
      assert.equal(await heading.textContent(), 'Spectra of the deltas per layer: top 256 singular values per matrix');
      assert.deepEqual(await energyColumns(), ['Energy, top 8', 'Energy, top 16', 'Energy, top 64', 'Energy, top 256']);
      assert.deepEqual(await view.locator('#spectra-metric vscode-option').evaluateAll((options) => options.map((option) => option.value)),
        ['effectiveRank', 'energy8', 'energy16', 'energy64', 'energy256']);

      // Effective rank: the modules' deltas have ranks 2 to 64, so their lines lie apart, each in its own colour.
      const canvas = view.locator('.spectra canvas');
      await page.waitForTimeout(500);
      const theme = await view.locator('body').evaluate((body) => (body.classList.contains('vscode-light') ? 'light' : 'dark'));
      const lines = await linesByColour(canvas, OKABE_ITO[theme]);
      for (const [index, line] of lines.entries()) {
        // A line across layers 0 to 2, not the legend's swatch alone.
        assert.ok(line.pixels > 40 && line.width > line.canvasWidth / 3, `the line in rgb(${OKABE_ITO[theme][index].join(', ')}) is drawn: ${JSON.stringify(line)}`);
      }
      await view.locator('section.spectra').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(SCREENSHOTS, 'report-spectra.png') });

      // Energy in the top 256 is 100% for every matrix: each point lies on the plot's top edge, and is drawn whole.
      await view.locator('#spectra-metric').evaluate((select) => {
        select.value = 'energy256';
        select.dispatchEvent(new Event('change'));
      });
      await page.waitForTimeout(500);
      const edge = await canvas.evaluate((element) => {
        const { width, height } = element;
        const data = element.getContext('2d').getImageData(0, 0, width, height).data;
        const coloured = (x, y) => {
          const i = (y * width + x) * 4;
          return data[i + 3] > 200 && Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60;
        };
        const rows = Array.from({ length: Math.floor(height / 2) }, (_, y) => {
          let count = 0;
          for (let x = 0; x < width; x++) if (coloured(x, y)) count += 1;
          return count;
        });
        const line = rows.indexOf(Math.max(...rows));
        let above = 0;
        for (let y = 0; y <= line - 3; y++) above += rows[y];
        return { line, lineWidth: rows[line], above };
      });
      assert.ok(edge.lineWidth > 100, `the 100% line is drawn (${JSON.stringify(edge)})`);
      assert.ok(edge.above > 5, `the points on the 100% line are drawn whole, above it too (${JSON.stringify(edge)})`);
      await page.screenshot({ path: join(SCREENSHOTS, 'report-spectra-energy.png') });
    });
  });

  test('a refused Compute shows its rule and message; Retry runs it again once the cause is fixed', async () => {
    await setWorkspaceSettings({});
    await closeEditors();
    const config = join(workspace, 'instruct', 'config.json');
    const original = await readFile(config, 'utf8');
    const residual = join(workspace, 'instruct-residual');
    await withFailureScreenshot(page, 'report-refused', async () => {
      // The instruct model's config names another family: compute refuses it.
      await writeFile(config, original.replace('"model_type": "llama"', '"model_type": "mistral"'));
      await runCommand(page, 'Checkpoint Surgeon: Compute Residual');
      await pickFolder('base');
      await pickFolder('instruct');
      const output = page.locator('.quick-input-widget .quick-input-box input');
      await page.locator('.quick-input-widget', { hasText: 'Residual output folder' }).waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.equal(await output.inputValue(), residual);
      await page.keyboard.press('Enter');
      await clickNotificationButton('incompatible-config', 'Show in Report');

      const view = webviewFrame(page);
      await view.locator('.failure').waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
      assert.equal(await view.locator('.failure h2').textContent(), 'The job was refused');
      assert.equal(await view.locator('.failure .rule').textContent(), 'incompatible-config');
      const message = await view.locator('.failure-message').textContent();
      assert.match(message, /config\.json: model_type differs: "llama" vs "mistral"/);
      assert.ok(!message.includes('[incompatible-config]'), `the rule is shown apart, not inside the message: ${message}`);
      assert.match(await view.locator('.failure-progress').textContent(), /before any tensor data was read, and nothing was written/);
      for (const id of ['apply', 'card', 'export-json', 'export-csv']) assert.equal(await view.locator(`#action-${id}`).isHidden(), true, `${id} is not offered`);
      assert.ok(!(await view.locator('body').innerText()).includes('Every tensor has the same name'), 'no false empty state');
      assert.equal(existsSync(residual), false, 'nothing was written');
      await page.screenshot({ path: join(SCREENSHOTS, 'report-refused-compute.png') });

      // Retry before the fix: refused again, and the tab says so and keeps its Retry.
      await view.locator('#action-retry').click();
      await view.locator('.status-line', { hasText: 'did not finish this time either' }).waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.equal(await view.locator('#action-retry').evaluate((button) => button.disabled), false, 'Retry is offered again');

      // The user fixes the config; Retry runs the same job (same base, instruct and output) and it succeeds.
      await writeFile(config, original);
      await view.locator('#action-retry').click();
      await page.locator('.notifications-toasts .notification-toast', { hasText: `Wrote the residual` }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
      for (const file of ['model.safetensors', 'config.json', 'provenance.json', 'README.md']) assert.ok(existsSync(join(residual, file)), `${file} written`);
      const provenance = JSON.parse(await readFile(join(residual, 'provenance.json'), 'utf8'));
      assert.equal(provenance.base.path, join(workspace, 'base'));
      assert.equal(provenance.instruct.path, join(workspace, 'instruct'));
      await page.locator('.tabs-container .tab', { hasText: 'problems' }).waitFor({ state: 'detached', timeout: STEP_TIMEOUT_MS });
      await page.screenshot({ path: join(SCREENSHOTS, 'report-retry-succeeded.png') });
    });
    await writeFile(config, original);
  });

  test('the Checkpoints view offers Verify and Write Model Card on the residual folder', async () => {
    await closeEditors();
    const residual = join(workspace, 'instruct-residual');
    await withFailureScreenshot(page, 'checkpoints-view', async () => {
      // The folders' pane closed, so that the Checkpoints view has the room to list every checkpoint.
      const folders = page.locator('.pane-header', { hasText: /surgeon-report-ws-/i }).first();
      if ((await folders.getAttribute('aria-expanded')) === 'true') await folders.click();
      const header = page.locator('.pane-header', { hasText: 'Checkpoints' }).first();
      await header.waitFor({ timeout: STEP_TIMEOUT_MS });
      if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
      const pane = page.locator('.pane', { has: header });
      const item = (name) => pane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${name}\\s*$`) }) }).first();
      const menuItem = (label) => page.locator('.monaco-menu .action-item', { hasText: label }).first();
      const runMenuItem = async (label) => {
        const entry = menuItem(label);
        for (let attempt = 0; attempt < 3 && (await entry.isVisible()); attempt++) {
          await entry.click({ timeout: STEP_TIMEOUT_MS });
          await entry.waitFor({ state: 'hidden', timeout: 3_000 }).catch(() => undefined);
        }
      };

      // A model has no Verify; the residual has both.
      await item('base').click({ button: 'right' });
      await menuItem('Compare with').waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.equal(await menuItem('Verify Residual').count(), 0, 'no Verify on a model');
      await page.keyboard.press('Escape');
      await item('instruct-residual').waitFor({ timeout: STEP_TIMEOUT_MS });
      await item('instruct-residual').click({ button: 'right' });
      await menuItem('Verify Residual').waitFor({ timeout: STEP_TIMEOUT_MS });
      await menuItem('Write Model Card').waitFor({ timeout: STEP_TIMEOUT_MS });
      for (const label of ['Compute Residual (this as base)', 'Apply Residual to', 'Compare with', 'Inspect']) {
        assert.ok(await menuItem(label).isVisible(), `${label} is still offered on the residual`);
      }
      await page.screenshot({ path: join(SCREENSHOTS, 'checkpoints-view-residual-menu.png') });

      // Write Model Card rewrites the card.
      await rm(join(residual, 'README.md'));
      await runMenuItem('Write Model Card');
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      while (!existsSync(join(residual, 'README.md')) && Date.now() < deadline) await page.waitForTimeout(200);
      assert.ok(existsSync(join(residual, 'README.md')), 'README.md written');
      assert.match(await readFile(join(residual, 'README.md'), 'utf8'), /base_model: \.\.\/base/);

      // Verify: base and instruct suggested from the residual's provenance.json; the result view opens.
      await closeEditors();
      await item('instruct-residual').click({ button: 'right' });
      await runMenuItem('Verify Residual');
      for (const name of ['base', 'instruct']) {
        const first = page.locator('.quick-input-list .monaco-list-row').first();
        await first.filter({ hasText: 'provenance.json' }).waitFor({ timeout: STEP_TIMEOUT_MS });
        assert.match(await first.textContent(), new RegExp(name));
        await page.keyboard.press('Enter');
        await first.filter({ hasText: 'provenance.json' }).waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
      }
      const view = webviewFrame(page);
      await view.locator('table.tensors').waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.match(await view.locator('body').textContent(), /reproduces the instruct checkpoint/);
      await page.screenshot({ path: join(SCREENSHOTS, 'checkpoints-view-verify.png') });
    });
  });
});
