// Verify and Inspect in the real workbench: code-server with the extension under development, the
// demo workspace plus a bf16 residual (too narrow to be exact, so Verify has mismatches to explain).
// Verify runs from the explorer's menu on the residual folder, base and instruct suggested from its
// provenance.json; the safetensors viewer filters its virtualised table. Screenshots in
// .test-output/screenshots (verify-*.png, inspect-*.png).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { webviewFrame } from '../lib/browser.mjs';
import { REPO_ROOT } from '../lib/code-server.mjs';
import { closeSuiteWorkbench, openSuiteWorkbench, quickPickRow, runCommand, SCREENSHOTS, STEP_TIMEOUT_MS, withFailureScreenshot } from '../lib/workbench.mjs';

const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

let workspace;
let workbench;
let page;

async function makeWorkspace() {
  const folder = await mkdtemp(join(tmpdir(), 'surgeon-verify-ws-'));
  await promisify(execFile)(TSX, [join(REPO_ROOT, 'e2e', 'lib', 'make-demo-workspace.ts'), folder]);
  await promisify(execFile)(TSX, [join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'compute',
    '--base', join(folder, 'base'), '--instruct', join(folder, 'instruct'), '--out', join(folder, 'residual'), '--dtype', 'bf16']);
  return folder;
}

const pickRow = (name) => quickPickRow(page, name);

describe('Verify and Inspect in the real workbench', { timeout: 400_000 }, () => {
  before(async () => {
    ({ workspace, workbench, page } = await openSuiteWorkbench(makeWorkspace));
  });

  after(() => closeSuiteWorkbench(workbench, workspace));

  test('Apply lists the residual first, marked', async () => {
    await withFailureScreenshot(page, 'apply-picker', async () => {
      await runCommand(page, 'Checkpoint Surgeon: Apply Residual');
      const first = page.locator('.quick-input-list .monaco-list-row').first();
      await first.filter({ hasText: 'residual' }).waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.match(await first.textContent(), /residual/);
      await page.screenshot({ path: join(SCREENSHOTS, 'apply-picker.png') });
      await page.keyboard.press('Escape');
    });
  });

  test('Verify from the explorer menu on the residual opens the result view', async () => {
    const row = (name) => page.locator('.explorer-folders-view .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${name}\\s*$`) }) });
    await withFailureScreenshot(page, 'verify', async () => {
      // The menu needs the finder's context keys: a palette pick makes it search the workspace.
      await runCommand(page, 'Checkpoint Surgeon: Inspect Checkpoint');
      await pickRow('base').waitFor({ timeout: STEP_TIMEOUT_MS });
      await page.keyboard.press('Escape');
      await row('residual').click({ button: 'right' });
      const item = page.locator('.monaco-menu .action-item', { hasText: 'Verify Residual' }).first();
      await item.waitFor({ timeout: STEP_TIMEOUT_MS });
      await page.screenshot({ path: join(SCREENSHOTS, 'verify-explorer-menu.png') });
      for (let attempt = 0; attempt < 3 && (await item.isVisible()); attempt++) {
        await item.click({ timeout: STEP_TIMEOUT_MS });
        await item.waitFor({ state: 'hidden', timeout: 3_000 }).catch(() => undefined);
      }
      // Base, then instruct: each suggested first from provenance.json.
      for (const name of ['base', 'instruct']) {
        const first = page.locator('.quick-input-list .monaco-list-row').first();
        await first.filter({ hasText: 'provenance.json' }).waitFor({ timeout: STEP_TIMEOUT_MS });
        assert.match(await first.textContent(), new RegExp(name));
        if (name === 'base') await page.screenshot({ path: join(SCREENSHOTS, 'verify-suggested-base.png') });
        await page.keyboard.press('Enter');
        await first.filter({ hasText: 'provenance.json' }).waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
      }
      const view = webviewFrame(page);
      await view.locator('table.tensors').waitFor({ timeout: STEP_TIMEOUT_MS });
      const text = await view.locator('body').textContent();
      assert.match(text, /Signed zero only/);
      assert.ok(!text.includes('--dtype'), 'no CLI flag in the view');
      await page.screenshot({ path: join(SCREENSHOTS, 'verify-view.png') });
    });
  });

  test('the safetensors viewer shows the config and filters its table', async () => {
    await runCommand(page, 'View: Close All Editors');
    await withFailureScreenshot(page, 'inspect', async () => {
      await runCommand(page, 'Checkpoint Surgeon: Inspect Checkpoint');
      await pickRow('instruct').click({ timeout: STEP_TIMEOUT_MS });
      const view = webviewFrame(page);
      await view.locator('#filter').waitFor({ timeout: STEP_TIMEOUT_MS });
      const summary = await view.locator('table.summary').textContent();
      assert.match(summary, /LlamaForCausalLM/);
      assert.match(summary, /llama/);
      await view.locator('#filter').fill('mlp.down');
      await view.locator('#count').filter({ hasText: /^4 of / }).waitFor({ timeout: STEP_TIMEOUT_MS });
      assert.equal(await view.locator('#rows .row').count(), 4);
      await page.screenshot({ path: join(SCREENSHOTS, 'inspect-filter.png') });
    });
  });
});
