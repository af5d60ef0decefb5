#!/usr/bin/env node
// `npm start`: generates a demo workspace of small Llama-like checkpoints (base, instruct with a
// grown vocabulary, and a continued-pretraining base) under demo/generated, starts code-server
// on it with the extension loaded from this repository, and prints the URL. Ctrl+C stops it.
// `npm start` builds dist/ first; code-server comes from scripts/install-code-server.sh.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startCodeServer, workbenchUrl, REPO_ROOT } from '../e2e/lib/code-server.mjs';

const DEMO = join(REPO_ROOT, 'demo', 'generated');

if (!existsSync(join(REPO_ROOT, 'dist', 'extension.js'))) {
  console.error('dist/extension.js is missing; run `npm start` (it builds first) or `npm run build`.');
  process.exit(2);
}

// The checkpoint generator is TypeScript (it uses test/helpers/make-checkpoint.ts); tsx runs it.
const generated = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), [join(REPO_ROOT, 'e2e', 'lib', 'make-demo-workspace.ts'), DEMO], { cwd: REPO_ROOT, stdio: 'inherit' });
if (generated.status !== 0) process.exit(generated.status ?? 1);

const server = await startCodeServer();
const url = workbenchUrl(server, { folder: DEMO, extensionDevelopmentPath: REPO_ROOT });
console.log(`\nCheckpoint Surgeon demo: ${url}\n(open it in a browser; Ctrl+C stops the server)\n`);
const stop = () => void server.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
