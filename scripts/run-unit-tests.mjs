// Runs the engine's node:test suites through tsx's CommonJS hook, in tiers:
//   fast  every `*.test.ts` but the slow ones: what `npm test` runs, under a minute on two cores;
//   slow  every `*.slow.test.ts`: exhaustive sweeps, real checkpoints, fuzzing, big files, crashes;
//   all   both (the default; CI runs it through `npm run test:all`).
// usage: node scripts/run-unit-tests.mjs [--tier fast|slow|all] [folder or file ...]
// Folders default to test/unit and test/fuzz. Node 20's test runner does not expand globs, so the
// files are listed here.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const TIERS = ['fast', 'slow', 'all'];
const SLOW_SUFFIX = '.slow.test.ts';

let parsed;
try {
  parsed = parseArgs({ options: { tier: { type: 'string', default: 'all' } }, allowPositionals: true });
} catch (error) {
  console.error(`${error.message}\nusage: node scripts/run-unit-tests.mjs [--tier ${TIERS.join('|')}] [folder or file ...]`);
  process.exit(2);
}
const tier = parsed.values.tier;
if (!TIERS.includes(tier)) {
  console.error(`--tier must be one of ${TIERS.join(', ')}, not ${JSON.stringify(tier)}`);
  process.exit(2);
}
const inTier = (name) => tier === 'all' || (name.endsWith(SLOW_SUFFIX) === (tier === 'slow'));

const roots = parsed.positionals.length ? parsed.positionals : ['test/unit', 'test/fuzz'];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts') && inTier(name)) files.push(path);
  }
};
for (const root of roots) {
  if (statSync(root, { throwIfNoEntry: false })?.isDirectory()) walk(root);
  else if (root.endsWith('.test.ts')) files.push(root);
}
if (files.length === 0) {
  console.error(`no ${tier === 'all' ? '' : `${tier} `}test files under ${roots.join(', ')}`);
  process.exit(1);
}
// Jobs remember input digests in a cache folder; tests get their own so they neither read nor fill the user's.
const cache = mkdtempSync(join(tmpdir(), 'surgeon-test-cache-'));
// Each file runs in a process of its own. Node 20 runs one file at a time per core but one, which on
// two cores is one at a time: two at a time there.
const concurrency = Math.max(2, availableParallelism() - 1);
// tsx's CommonJS hook alone (the tests are CommonJS): `--import tsx` also registers module hooks,
// which run on a loader thread of their own, and starts a process in about three times the CPU time.
// The price: import() of a .ts file does not work in a test (Node's own loader cannot read
// TypeScript); import it statically or require it.
const loader = ['--require', 'tsx/cjs'];
// A file that hangs (a thread stuck in a system call keeps its process alive) is killed and reported
// as timed out rather than holding CI until its own limit; the slowest file takes about 20 s here.
const started = performance.now();
const result = spawnSync(process.execPath, [...loader, '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files], {
  stdio: 'inherit',
  env: { ...process.env, CHECKPOINT_SURGEON_CACHE: process.env.CHECKPOINT_SURGEON_CACHE ?? cache },
});
rmSync(cache, { recursive: true, force: true });
console.error(`${tier} tier: ${files.length} files in ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(result.status ?? 1);
