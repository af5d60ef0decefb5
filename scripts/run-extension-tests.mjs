#!/usr/bin/env node
// Runs the extension's mocha suites inside a real VS Code (code-server 4.100.3, installed by
// scripts/install-code-server.sh). It builds nothing itself: `npm run test:extension` builds
// dist/ and out/test/extension/ (and the VSIX) first. Each suite gets its own server, temp
// workspace and profile; the server's process group is always killed. Exits with the suites' code.
//
//   node scripts/run-extension-tests.mjs [--suite suite|untrusted|vsix]... [--vsix checkpoint-surgeon.vsix]
//
// The same suite runs in desktop VS Code with internet through @vscode/test-electron:
//   runTests({ extensionDevelopmentPath: '.', extensionTestsPath: 'out/test/extension/index.js',
//              launchArgs: [workspaceFolder, '--disable-workspace-trust'] })
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { installVsix, REPO_ROOT } from '../e2e/lib/code-server.mjs';
import { runExtensionTests } from '../e2e/lib/extension-tests.mjs';

/** A whole suite; the tests themselves have their own (smaller) mocha timeouts. */
const SUITE_TIMEOUT_MS = 300_000;

const { values } = parseArgs({
  options: {
    suite: { type: 'string', multiple: true },
    vsix: { type: 'string' },
  },
});

const testsEntry = join(REPO_ROOT, 'out', 'test', 'extension', 'index.js');
for (const required of [join(REPO_ROOT, 'dist', 'extension.js'), join(REPO_ROOT, 'dist', 'worker.js'), testsEntry]) {
  if (!existsSync(required)) {
    console.error(`${required} is missing; run \`npm run test:extension\` (it builds first).`);
    process.exit(2);
  }
}
const vsix = values.vsix === undefined ? undefined : resolve(values.vsix);
if (vsix !== undefined && !existsSync(vsix)) {
  console.error(`${vsix} is missing; run \`npm run package\` first.`);
  process.exit(2);
}
const suites = values.suite ?? ['suite', 'untrusted', ...(vsix ? ['vsix'] : [])];

let failed = false;
for (const suite of suites) {
  const started = Date.now();
  console.log(`\n=== extension tests: ${suite} ===`);
  const workspace = await mkdtemp(join(tmpdir(), `surgeon-ext-${suite}-`));
  let extensionsDir;
  try {
    const env = { SURGEON_SUITE: suite };
    let extensionDevelopmentPath = REPO_ROOT;
    if (suite === 'vsix') {
      if (vsix === undefined) throw new Error('--suite vsix needs --vsix <file>');
      extensionsDir = await mkdtemp(join(tmpdir(), 'surgeon-ext-installed-'));
      console.log((await installVsix(vsix, extensionsDir)).trim());
      env.SURGEON_EXTENSIONS_DIR = extensionsDir;
      // The test host needs a development extension; an empty one keeps the installed copy the only Checkpoint Surgeon.
      extensionDevelopmentPath = join(REPO_ROOT, 'test', 'extension', 'vsix-host');
    }
    const code = await runExtensionTests({
      folder: workspace,
      extensionDevelopmentPath,
      extensionTestsPath: testsEntry,
      env,
      workspaceTrust: suite === 'untrusted',
      ...(extensionsDir ? { extensionsDir } : {}),
      timeoutMs: SUITE_TIMEOUT_MS,
    });
    console.log(`=== ${suite}: ${code === 0 ? 'passed' : `FAILED (${code})`} in ${((Date.now() - started) / 1000).toFixed(1)} s ===`);
    if (code !== 0) failed = true;
  } catch (error) {
    console.error(error instanceof Error ? error.stack : error);
    failed = true;
  } finally {
    await rm(workspace, { recursive: true, force: true, maxRetries: 3 });
    if (extensionsDir) await rm(extensionsDir, { recursive: true, force: true, maxRetries: 3 });
  }
}
process.exit(failed ? 1 : 0);
