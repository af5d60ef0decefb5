// Runs the engine's node:test suites through tsx. Node 20's test runner does not expand globs,
// so the files are listed here: every `*.test.ts` under the folders given (default test/unit, test/fuzz).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ['test/unit', 'test/fuzz'];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts')) files.push(path);
  }
};
for (const root of roots) {
  if (statSync(root, { throwIfNoEntry: false })?.isDirectory()) walk(root);
  else if (root.endsWith('.test.ts')) files.push(root);
}
if (files.length === 0) {
  console.error(`no test files under ${roots.join(', ')}`);
  process.exit(1);
}
// Jobs remember input digests in a cache folder; tests get their own so they neither read nor fill the user's.
const cache = mkdtempSync(join(tmpdir(), 'surgeon-test-cache-'));
// A file that hangs (a thread stuck in a system call keeps its process alive) is killed and reported
// as timed out rather than holding CI until its own limit; the slowest file takes about 20 s here.
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', ...files], {
  stdio: 'inherit',
  env: { ...process.env, CHECKPOINT_SURGEON_CACHE: process.env.CHECKPOINT_SURGEON_CACHE ?? cache },
});
rmSync(cache, { recursive: true, force: true });
process.exit(result.status ?? 1);
