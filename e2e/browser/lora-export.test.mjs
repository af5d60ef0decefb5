// Export as LoRA Adapter in the real workbench (code-server with the extension under development): a Compare
// with spectra shows energy against rank; rank 16 picked there and Export, the output name given, and the
// adapter on disk says r 16, its view lists the matrices; then the Checkpoints view's menu on a residual, the
// rank quick pick and the output prompt. Screenshots in .test-output/screenshots (lora-*.png).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { webviewFrame } from '../lib/browser.mjs';
import { REPO_ROOT } from '../lib/code-server.mjs';
import { closeSuiteWorkbench, openSuiteWorkbench, quickPickRow, runCommand, SCREENSHOTS, STEP_TIMEOUT_MS, withFailureScreenshot } from '../lib/workbench.mjs';

const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
/** The wide pair's factored matrices: 3 layers of q, k, v, o, gate, up and down (e2e/lib/make-spectra-pair.ts). */
const WIDE_MATRICES = 21;

let workspace;
let workbench;
let page;

async function makeWorkspace() {
  const folder = await mkdtemp(join(tmpdir(), 'surgeon-lora-ws-'));
  await promisify(execFile)(TSX, [join(REPO_ROOT, 'e2e', 'lib', 'make-spectra-pair.ts'), folder]);
  await promisify(execFile)(TSX, [join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'compute',
    '--base', join(folder, 'wide-base'), '--instruct', join(folder, 'wide-instruct'), '--out', join(folder, 'wide-residual')]);
  // The demo's pair adds chat tokens: its residual grows the vocabulary, which an adapter cannot carry.
  await promisify(execFile)(TSX, [join(REPO_ROOT, 'e2e', 'lib', 'make-demo-workspace.ts'), folder]);
  await promisify(execFile)(TSX, [join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'compute',
    '--base', join(folder, 'base'), '--instruct', join(folder, 'instruct'), '--out', join(folder, 'chat-residual')]);
  // Compare runs the spectral pass (at the default rank, 64) from the start.
  await mkdir(join(folder, '.vscode'));
  await writeFile(join(folder, '.vscode', 'settings.json'), `${JSON.stringify({ 'checkpointSurgeon.diff.spectra': true }, null, 2)}\n`);
  return folder;
}

async function pickFolder(name) {
  const row = quickPickRow(page, name);
  await row.waitFor({ timeout: STEP_TIMEOUT_MS });
  await row.click();
}

async function closeEditors() {
  await page.keyboard.press('Escape');
  await page.locator('.part.sidebar .composite.title').click();
  await runCommand(page, 'View: Close All Editors');
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

/** The output prompt (a quick input holding the suggested path): its value, then `path` typed in its place and accepted. */
async function answerOutputPrompt(title, path) {
  await page.locator('.quick-input-widget', { hasText: title }).waitFor({ timeout: STEP_TIMEOUT_MS });
  const input = page.locator('.quick-input-widget .quick-input-box input');
  const suggested = await input.inputValue();
  if (path !== undefined) await input.fill(path);
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
  return suggested;
}

async function waitForFile(file) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!existsSync(file) && Date.now() < deadline) await page.waitForTimeout(200);
  assert.ok(existsSync(file), `${file} written`);
}

/** The adapter view's frame (the active webview, once its table is there). */
async function adapterView() {
  const view = webviewFrame(page);
  await view.locator('table.matrices').waitFor({ timeout: STEP_TIMEOUT_MS });
  return view;
}

describe('Export as LoRA Adapter in the real workbench', { timeout: 400_000 }, () => {
  before(async () => {
    ({ workspace, workbench, page } = await openSuiteWorkbench(makeWorkspace));
  });

  after(() => closeSuiteWorkbench(workbench, workspace));

  test('from a Compare with spectra: energy against rank, rank 16 picked, Export, and the adapter says r 16', async () => {
    await withFailureScreenshot(page, 'lora-report', async () => {
      await runCommand(page, 'Checkpoint Surgeon: Compare Checkpoints');
      await pickFolder('wide-base');
      await pickFolder('wide-instruct');
      const view = webviewFrame(page);
      const section = view.locator('section.energy-rank');
      await section.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
      await reportFinished(view);
      assert.equal(await section.locator('h2').textContent(), 'Energy against rank');
      // One row per module with a spectrum, in architecture order: the embeddings, the projections, the head.
      const modules = await section.locator('table.energy-at-rank tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.module));
      assert.deepEqual(modules, ['embed', 'q', 'k', 'v', 'o', 'gate', 'up', 'down', 'lm_head']);
      assert.equal(await view.locator('#energy-rank').evaluate((field) => field.value), '64', 'the export\'s default rank');

      // Rank 16, typed as a user would; the table and the button follow.
      await view.locator('#energy-rank input').fill('16');
      await section.locator('table.energy-at-rank th', { hasText: 'Energy at rank 16' }).waitFor({ timeout: STEP_TIMEOUT_MS });
      const share = async (module) => Number.parseFloat(await section.locator(`tr[data-module="${module}"] td.numeric`).first().textContent());
      // q's delta has rank 2: rank 16 carries nearly all of it; down's has rank 64: far from all.
      assert.ok(await share('q') > 95, `q at rank 16: ${await share('q')}%`);
      assert.ok(await share('down') < await share('q'), 'down carries less at rank 16 than q');
      const button = view.locator('#action-export-lora-rank');
      assert.equal(await button.textContent(), 'Export as LoRA adapter at rank 16…');
      await section.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(SCREENSHOTS, 'lora-report-energy.png') });

      // Export: only the output folder is asked for, suggested beside the instruct model.
      await button.click();
      const out = join(workspace, 'wide-adapter-r16');
      const suggested = await answerOutputPrompt('LoRA adapter output folder', out);
      assert.equal(suggested, join(workspace, 'wide-instruct-lora-r16'));
      await waitForFile(join(out, 'adapter_config.json'));
      const config = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
      assert.equal(config.r, 16);
      assert.equal(config.lora_alpha, 16);
      for (const file of ['adapter_model.safetensors', 'README.md', 'provenance.json']) assert.ok(existsSync(join(out, file)), `${file} written`);

      // The adapter's view: the table of matrices, each module's name on one line.
      const adapter = await adapterView();
      assert.equal(await adapter.locator('table.matrices tr:has(td)').count(), WIDE_MATRICES);
      assert.match(await adapter.locator('table.summary').textContent(), /16 for every matrix/);
      const wrapped = await adapter.locator('table.matrices td.name').evaluateAll((cells) => cells.filter((cell) => {
        const range = document.createRange();
        range.selectNodeContents(cell);
        return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size > 1;
      }).map((cell) => cell.textContent));
      assert.deepEqual(wrapped, []);
      await page.screenshot({ path: join(SCREENSHOTS, 'lora-adapter-view.png') });
      // The report said what it did.
      await page.locator('.notifications-toasts .notification-toast', { hasText: 'Wrote the LoRA adapter' }).first().waitFor({ timeout: STEP_TIMEOUT_MS });

      // Open model card: the adapter's README.md in the Markdown preview.
      await adapter.locator('#open-model-card').click();
      await page.locator('.tabs-container .tab', { hasText: 'Preview README.md' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    });
  });

  test('from the Checkpoints view\'s menu on a residual: the rank quick pick, then the output prompt', async () => {
    await closeEditors();
    await withFailureScreenshot(page, 'lora-checkpoints-menu', async () => {
      const folders = page.locator('.pane-header', { hasText: /surgeon-lora-ws-/i }).first();
      if ((await folders.getAttribute('aria-expanded')) === 'true') await folders.click();
      const header = page.locator('.pane-header', { hasText: 'Checkpoints' }).first();
      await header.waitFor({ timeout: STEP_TIMEOUT_MS });
      if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
      const pane = page.locator('.pane', { has: header });
      const item = (name) => pane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${name}\\s*$`) }) }).first();
      const menuItem = (label) => page.locator('.monaco-menu .action-item', { hasText: label }).first();

      // A model has no Export; the residual has it, next to Verify.
      await item('wide-base').click({ button: 'right' });
      await menuItem('Compare with').waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.equal(await menuItem('Export as LoRA Adapter').count(), 0, 'no Export on a model');
      await page.keyboard.press('Escape');
      await item('wide-residual').click({ button: 'right' });
      await menuItem('Export as LoRA Adapter').waitFor({ timeout: STEP_TIMEOUT_MS });
      await page.screenshot({ path: join(SCREENSHOTS, 'lora-checkpoints-menu.png') });
      await menuItem('Export as LoRA Adapter').click();

      // The rank quick pick starts on the default, 64; rank 8 is picked.
      const active = page.locator('.quick-input-list .monaco-list-row.focused');
      await active.filter({ hasText: 'Rank 64' }).waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.ok((await page.locator('.quick-input-list .monaco-list-row').allTextContents()).some((row) => row.includes('By energy: 95%')));
      await page.screenshot({ path: join(SCREENSHOTS, 'lora-rank-pick.png') });
      await quickPickRow(page, 'Rank 8').click();
      const out = join(workspace, 'wide-residual-lora-r8');
      assert.equal(await answerOutputPrompt('LoRA adapter output folder'), out, 'the suggested name says the rank');
      await waitForFile(join(out, 'adapter_config.json'));
      assert.equal(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).r, 8);
      const adapter = await adapterView();
      assert.match(await adapter.locator('table.summary').textContent(), /8 for every matrix/);
      assert.match(await adapter.locator('table.summary').textContent(), /wide-residual/);
    });
  });

  test('a residual that grew the vocabulary: the export says an adapter cannot add token rows and, if asked, leaves them out', async () => {
    await closeEditors();
    await withFailureScreenshot(page, 'lora-vocabulary-growth', async () => {
      const header = page.locator('.pane-header', { hasText: 'Checkpoints' }).first();
      const pane = page.locator('.pane', { has: header });
      const item = pane.locator('.monaco-list-row').filter({ has: page.locator('.label-name', { hasText: /^\s*chat-residual\s*$/ }) }).first();
      await item.waitFor({ timeout: STEP_TIMEOUT_MS });
      await item.click({ button: 'right' });
      const exportItem = page.locator('.monaco-menu .action-item', { hasText: 'Export as LoRA Adapter' }).first();
      await exportItem.waitFor({ timeout: STEP_TIMEOUT_MS });
      // The menu ignores a click in the moment it opens (as a real user's would land later).
      await page.waitForTimeout(300);
      await exportItem.click();
      await quickPickRow(page, 'Rank 8').click();
      const out = join(workspace, 'chat-residual-lora-r8');
      await answerOutputPrompt('LoRA adapter output folder');
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.match(await dialog.textContent(), /The vocabulary grew: .*embed_tokens.* gained rows\. A LoRA adapter cannot add token rows\..*full residual/);
      assert.equal(existsSync(out), false, 'nothing written while the user decides');
      await page.screenshot({ path: join(SCREENSHOTS, 'lora-vocabulary-growth.png') });
      await dialog.locator('.monaco-button', { hasText: 'Export Without Them' }).click();
      await waitForFile(join(out, 'adapter_config.json'));
      const adapter = await adapterView();
      assert.match(await adapter.locator('body').textContent(), /grown vocabulary/i);
    });
  });
});
