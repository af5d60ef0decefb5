// Launches Debian's chromium through playwright-core (never `npx playwright install`) with a
// fresh profile, and gives the helpers the browser tests share.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

/**
 * @param {{ viewport?: { width: number, height: number } }} [options]
 * @returns {Promise<{ context: import('playwright-core').BrowserContext, page: import('playwright-core').Page, close: () => Promise<void> }>}
 */
export async function launchBrowser(options = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'surgeon-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: options.viewport ?? { width: 1400, height: 900 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await context.close().catch(() => undefined);
    await rm(profile, { recursive: true, force: true, maxRetries: 3 });
  };
  return { context, page, close };
}

/**
 * Runs a command from the palette by its title, as a user would.
 * @param {import('playwright-core').Page} page
 * @param {string} title
 */
export async function runCommandFromPalette(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

/**
 * The DOM of the active webview (two nested iframes in the workbench).
 * @param {import('playwright-core').Page} page
 */
export function webviewFrame(page) {
  return page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
}

/**
 * Pixels of a canvas close to a colour (a heatmap's hot end, a histogram's bars, a chart's lines): opaque, each
 * channel within `tolerance`; -1 for a canvas not laid out yet.
 * @param {import('playwright-core').Locator} canvas
 * @param {number[]} rgb
 * @param {number} tolerance
 */
export function countPixelsNear(canvas, rgb, tolerance) {
  return canvas.evaluate((element, { rgb, tolerance }) => {
    if (element.width === 0) return -1;
    const data = element.getContext('2d').getImageData(0, 0, element.width, element.height).data;
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) <= tolerance && Math.abs(data[i + 1] - rgb[1]) <= tolerance
        && Math.abs(data[i + 2] - rgb[2]) <= tolerance) count += 1;
    }
    return count;
  }, { rgb, tolerance });
}
