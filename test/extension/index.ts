/**
 * Entry of the extension-host test run, in the `run()` shape @vscode/test-electron expects, so the
 * same suite runs in desktop VS Code (`@vscode/test-electron`, needs internet) and here in
 * code-server (scripts/run-extension-tests.mjs). `SURGEON_SUITE` picks the folder of tests:
 * `suite` (trusted workspace, the default), `untrusted` (restricted mode) or `vsix` (the packaged
 * extension installed from its VSIX).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type MochaType from 'mocha';

/** Per test; the slowest tests generate and stream a few hundred megabytes on 2 shared cores. */
const TEST_TIMEOUT_MS = 120_000;

export function run(): Promise<void> {
  // mocha 12 is an ES module; require() of it (Node >= 20.19) yields its named exports.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- this entry is CommonJS (VS Code loads it with require)
  const { Mocha } = require('mocha') as { Mocha: typeof MochaType };
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: TEST_TIMEOUT_MS, reporter: 'spec' });
  const folder = join(__dirname, process.env.SURGEON_SUITE ?? 'suite');
  for (const file of readdirSync(folder).filter((name) => name.endsWith('.test.js')).sort()) {
    mocha.addFile(join(folder, file));
  }
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension test(s) failed.`)) : resolve()));
  });
}
