// A real VS Code workbench for the browser tests: code-server with the extension under development,
// Chromium on it, and the steps every workbench test takes (run a command from the palette, pick a
// row, keep a screenshot of a failed step).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser } from './browser.mjs';
import { REPO_ROOT, startCodeServer, workbenchUrl } from './code-server.mjs';

export const SCREENSHOTS = join(REPO_ROOT, '.test-output', 'screenshots');
/** Opening the workbench, activating the extension, a job on the small checkpoints. */
export const STEP_TIMEOUT_MS = 60_000;

/** Opens `folder` in code-server with the extension under development; `close()` ends both. */
export async function openWorkbench(folder) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const server = await startCodeServer();
  const browser = await launchBrowser({ viewport: { width: 1600, height: 1000 } });
  const page = browser.page;
  await page.goto(workbenchUrl(server, { folder, extensionDevelopmentPath: REPO_ROOT }));
  await page.locator('.monaco-workbench').waitFor({ timeout: STEP_TIMEOUT_MS });
  await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: STEP_TIMEOUT_MS });
  return {
    page,
    async close() {
      await browser.close();
      await server.stop();
    },
  };
}

/**
 * Runs a command from the palette, retrying while the extension host is still registering the
 * extension's commands (the workbench shows before they are in the palette).
 */
export async function runCommand(page, title) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  const input = page.locator('.quick-input-widget .quick-input-box input');
  for (;;) {
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ timeout: 3_000 });
      await page.keyboard.press('Enter');
      return;
    } catch (error) {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) throw error;
    }
  }
}

/** The quick-pick row whose label is exactly `name`. */
export function quickPickRow(page, name) {
  return page.locator('.quick-input-list .monaco-list-row')
    .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${name}\\s*$`) }) }).first();
}

/** Saves what the workbench showed when a step failed, then fails. */
export async function withFailureScreenshot(page, name, steps) {
  try {
    await steps();
  } catch (error) {
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-failure.png`) }).catch(() => undefined);
    throw error;
  }
}

/**
 * A suite's workbench on a workspace of its own: `makeWorkspace()` writes the folder, a workbench opens on it.
 * Pair with `closeSuiteWorkbench` in the suite's `after`.
 */
export async function openSuiteWorkbench(makeWorkspace) {
  const workspace = await makeWorkspace();
  const workbench = await openWorkbench(workspace);
  return { workspace, workbench, page: workbench.page };
}

/** Closes what `openSuiteWorkbench` opened and removes its workspace; either may be missing when `before` failed. */
export async function closeSuiteWorkbench(workbench, workspace) {
  await workbench?.close();
  if (workspace) await rm(workspace, { recursive: true, force: true });
}
