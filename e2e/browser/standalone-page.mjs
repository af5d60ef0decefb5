// The report webview's standalone page (standalone.html, which mocks acquireVsCodeApi) in headless Chromium, served
// from the repository with the webview freshly built: the suites that drive the webview outside VS Code open it here.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser } from '../lib/browser.mjs';
import { REPO_ROOT } from '../lib/code-server.mjs';
import { buildWebview } from './build-webview.mjs';
import { startStaticServer } from './static-server.mjs';

export const SCREENSHOTS = join(REPO_ROOT, '.test-output', 'screenshots');

/**
 * Builds the webview, serves the repository and opens a browser on a 1400 x 1000 viewport. The page's console errors
 * and uncaught errors go to `problems.console` and `problems.page`, which the suites check stay empty.
 */
export async function openStandalonePage(problems) {
  await buildWebview(REPO_ROOT);
  await mkdir(SCREENSHOTS, { recursive: true });
  const server = await startStaticServer(REPO_ROOT);
  const browser = await launchBrowser({ viewport: { width: 1400, height: 1000 } });
  const { page } = browser;
  page.on('console', (message) => { if (message.type() === 'error') problems.console.push(message.text()); });
  page.on('pageerror', (error) => problems.page.push(error.message));
  return { server, browser, page };
}

/** Closes what `openStandalonePage` opened; either may be missing when it failed. */
export async function closeStandalonePage(browser, server) {
  await browser?.close();
  await server?.close();
}
