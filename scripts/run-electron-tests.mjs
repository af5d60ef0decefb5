#!/usr/bin/env node
// The extension suite (`suite`: a trusted workspace) in desktop VS Code through @vscode/test-electron,
// for machines with internet: it downloads VS Code. CI here runs the same suite in code-server instead
// (scripts/run-extension-tests.mjs). Build first: `npm run test:electron` does.
import { runTests } from '@vscode/test-electron';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const workspace = await mkdtemp(join(tmpdir(), 'surgeon-electron-'));
try {
  await runTests({
    extensionDevelopmentPath: root,
    extensionTestsPath: join(root, 'out', 'test', 'extension', 'index.js'),
    extensionTestsEnv: { SURGEON_SUITE: 'suite' },
    launchArgs: [workspace, '--disable-workspace-trust', '--disable-extensions'],
  });
} catch (error) {
  console.error(`extension tests failed under @vscode/test-electron: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  await rm(workspace, { recursive: true, force: true });
}
