#!/usr/bin/env node
// Runs the browser tests: the report webview and its energy-against-rank chart on the standalone page
// (Chromium only), then Compare, Verify and Inspect, the report view and Export as LoRA Adapter in the
// real workbench (code-server, scripts/install-code-server.sh). Builds dist/ first.
//
//   node scripts/run-browser-tests.mjs [--standalone-only]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, CODE_SERVER_BIN } from '../e2e/lib/code-server.mjs';

const standaloneOnly = process.argv.includes('--standalone-only');
const run = (command, args) => spawnSync(command, args, { cwd: REPO_ROOT, stdio: 'inherit' }).status ?? 1;

if (run(process.execPath, [join('scripts', 'build.mjs')]) !== 0) process.exit(1);
const tests = [join('e2e', 'browser', 'standalone.test.mjs'), join('e2e', 'browser', 'lora-energy.test.mjs')];
if (!standaloneOnly) {
  if (existsSync(CODE_SERVER_BIN)) {
    tests.push(join('e2e', 'browser', 'compare.test.mjs'), join('e2e', 'browser', 'verify-inspect.test.mjs'), join('e2e', 'browser', 'report-view.test.mjs'),
      join('e2e', 'browser', 'lora-export.test.mjs'));
  } else {
    console.warn(`code-server is not installed (${CODE_SERVER_BIN}); the workbench tests are left out. Run scripts/install-code-server.sh.`);
  }
}
// One file at a time: each starts a browser (and the workbench test a server) on a 2-core machine.
// A hung file is killed and reported after 10 minutes instead of holding CI until its own limit.
process.exit(run(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=600000', ...tests]));
