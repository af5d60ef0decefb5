// The report in the real workbench: code-server with the extension under development, a workspace
// of generated checkpoints (vocabulary growth between base and instruct) with the real Mistral
// tokenizer files, Compare run from the palette and from the explorer's context menu.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { webviewFrame } from '../lib/browser.mjs';
import { REPO_ROOT } from '../lib/code-server.mjs';
import { closeSuiteWorkbench, openSuiteWorkbench, quickPickRow, runCommand, SCREENSHOTS, STEP_TIMEOUT_MS, withFailureScreenshot } from '../lib/workbench.mjs';

const MISTRAL = join(REPO_ROOT, 'test', 'fixtures', 'real', 'mistral-7b-v0.1-base-vs-instruct');
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

let workspace;
let workbench;
let page;

async function makeWorkspace() {
  const folder = await mkdtemp(join(tmpdir(), 'surgeon-compare-ws-'));
  await promisify(execFile)(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), [join(REPO_ROOT, 'e2e', 'lib', 'make-demo-workspace.ts'), folder]);
  for (const [model, side] of [['Mistral-7B-v0.1', 'base'], ['Mistral-7B-Instruct-v0.1', 'instruct']]) {
    for (const file of TOKENIZER_FILES) await copyFile(join(MISTRAL, model, file), join(folder, side, file));
  }
  return folder;
}

async function pickFolder(name) {
  const row = quickPickRow(page, name);
  await row.waitFor({ timeout: STEP_TIMEOUT_MS });
  await row.click();
}

async function checkReport(screenshot) {
  const view = webviewFrame(page);
  await view.locator('.row-count').filter({ hasText: /^[1-9][\d,]* of [\d,]+ tensors$/ }).waitFor({ state: 'attached', timeout: STEP_TIMEOUT_MS });
  await view.locator('.status-line').filter({ hasText: /^$/ }).waitFor({ state: 'attached', timeout: STEP_TIMEOUT_MS });
  await view.locator('.heatmap canvas').waitFor({ timeout: STEP_TIMEOUT_MS });
  const heat = await view.locator('.heatmap canvas').evaluate((canvas) => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 200 && data[i] - Math.max(data[i + 1], data[i + 2]) > 40) count += 1;
    return count;
  });
  assert.ok(heat > 1000, `heatmap cells drawn (${heat} pixels)`);
  const mismatches = await view.locator('table.mismatches tbody tr').allTextContents();
  assert.ok(mismatches.some((row) => row.includes('embed_tokens')), `the vocabulary growth is listed: ${mismatches.join(' | ')}`);
  // The host says what the report is of: a comparison of two checkpoints has nothing to apply.
  assert.equal(await view.locator('#action-apply').isHidden(), true, 'no Apply on a comparison');
  assert.equal(await view.locator('#action-card').isHidden(), true, 'no model card on a comparison');
  assert.equal(await view.locator('#action-export-csv').textContent(), 'Export CSV');
  await page.screenshot({ path: join(SCREENSHOTS, `${screenshot}-overview.png`) });
  // The README's screenshot is this one: `UPDATE_SCREENSHOTS=1 npm run test:browser` refreshes it.
  if (process.env.UPDATE_SCREENSHOTS === '1' && screenshot === 'workbench-palette') {
    await copyFile(join(SCREENSHOTS, `${screenshot}-overview.png`), join(REPO_ROOT, 'docs', 'screenshots', 'report.png'));
  }

  await view.locator('vscode-tab-header[data-tab="tensors"]').click();
  assert.ok(await view.locator('.table-row:visible').count() > 5, 'table rows');
  await view.locator('vscode-tab-header[data-tab="tokenizer"]').click();
  const tokenizer = await view.locator('.tokenizer').textContent();
  assert.match(tokenizer, /Chat template/);
  assert.match(tokenizer, /\[INST\]/, 'the instruct chat template is shown');
  await page.screenshot({ path: join(SCREENSHOTS, `${screenshot}-tokenizer.png`) });
}

describe('Compare in the real workbench', { timeout: 300_000 }, () => {
  before(async () => {
    ({ workspace, workbench, page } = await openSuiteWorkbench(makeWorkspace));
  });

  after(() => closeSuiteWorkbench(workbench, workspace));

  test('from the command palette', async () => {
    await withFailureScreenshot(page, 'workbench-palette', async () => {
      await runCommand(page, 'Checkpoint Surgeon: Compare Checkpoints');
      await pickFolder('base');
      await pickFolder('instruct');
      await checkReport('workbench-palette');
    });
  });

  test('from the explorer context menu on two selected folders', async () => {
    await page.keyboard.press('Escape');
    await runCommand(page, 'View: Close All Editors');
    const row = (name) => page.locator('.explorer-folders-view .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${name}\\s*$`) }) });
    await row('base').click();
    await row('instruct').click({ modifiers: ['Control'] });
    await withFailureScreenshot(page, 'workbench-explorer', async () => {
      await row('instruct').click({ button: 'right' });
      // On a loaded machine the first click can land while the menu is still settling and only
      // highlight the item; click again until the menu closes, which is what running it does.
      const item = page.locator('.monaco-menu .action-item', { hasText: 'Compare Selected' }).first();
      await item.waitFor({ timeout: STEP_TIMEOUT_MS });
      for (let attempt = 0; attempt < 3 && (await item.isVisible()); attempt++) {
        await item.click({ timeout: STEP_TIMEOUT_MS });
        await item.waitFor({ state: 'hidden', timeout: 3_000 }).catch(() => undefined);
      }
      await checkReport('workbench-explorer');
    });
  });
});
