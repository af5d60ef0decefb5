// Runs the extension's mocha suite inside a real VS Code: code-server on 127.0.0.1:0, the workbench
// opened in chromium with the test payload, test output collected through `codeAutomationLog`
// and the verdict through `codeAutomationExit` (the hooks VS Code's own smoke tests use).
import { format } from 'node:util';
import { startCodeServer, workbenchUrl } from './code-server.mjs';
import { launchBrowser } from './browser.mjs';

/**
 * @param {object} options
 * @param {string} options.folder                 workspace folder to open
 * @param {string} options.extensionDevelopmentPath
 * @param {string} options.extensionTestsPath     a module exporting run()
 * @param {Record<string, string>} [options.env]  reaches the extension host (and so the suite)
 * @param {boolean} [options.workspaceTrust]      true opens the folder in restricted mode
 * @param {string} [options.extensionsDir]       an extensions folder to load (e.g. with a VSIX installed)
 * @param {number} [options.timeoutMs]
 * @param {(line: string) => void} [options.log]
 * @returns {Promise<number>} the suite's exit code (0 = all passed)
 */
export async function runExtensionTests(options) {
  const log = options.log ?? ((line) => process.stdout.write(`${line}\n`));
  const server = await startCodeServer({ env: options.env, workspaceTrust: options.workspaceTrust, extensionsDir: options.extensionsDir });
  const browser = await launchBrowser().catch(async (error) => { await server.stop(); throw error; });
  try {
    let timer;
    const verdict = new Promise((resolve) => {
      timer = setTimeout(() => { log(`Extension tests timed out after ${options.timeoutMs ?? 300_000} ms.`); resolve(1); }, options.timeoutMs ?? 300_000);
      void browser.page.exposeFunction('codeAutomationExit', (code) => resolve(Number(code)));
    });
    await browser.page.exposeFunction('codeAutomationLog', (type, args) => {
      // The arguments of a console call in the extension host: a format string and its values.
      const text = Array.isArray(args) ? format(...args) : String(args);
      log(type === 'error' ? `[error] ${text}` : text);
    });
    await browser.page.goto(workbenchUrl(server, options));
    const code = await verdict;
    clearTimeout(timer);
    if (code !== 0 && process.env.SURGEON_TEST_SERVER_LOG) log(server.output());
    return code;
  } finally {
    await browser.close();
    await server.stop();
  }
}
