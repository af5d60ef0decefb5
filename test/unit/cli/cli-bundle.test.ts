/**
 * The bundled dist/cli.js that `npm run build` writes and package.json's "bin" names, run as the
 * process a user starts: its exit statuses, and a stdout that holds the --json object alone.
 * `npm test` builds first; run alone, the file skips where the bundle is missing or older than a
 * source. cli-process.slow.test.ts runs the sources as a process (signals included).
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TOOL_VERSION } from '../../../src/engine/version';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';

const REPO = resolve(__dirname, '../../..');
const BUNDLE = join(REPO, 'dist', 'cli.js');

/** Why dist/cli.js cannot stand for the sources (absent, or older than one of them), or undefined when it can. */
function bundleOutOfDate(): string | undefined {
  if (!existsSync(BUNDLE)) return 'dist/cli.js is not built (npm run build)';
  const built = statSync(BUNDLE).mtimeMs;
  const newer = (dir: string): string | undefined => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const found = entry.isDirectory() ? newer(path) : statSync(path).mtimeMs > built ? path : undefined;
      if (found) return found;
    }
    return undefined;
  };
  const source = newer(join(REPO, 'src'));
  return source ? `dist/cli.js is older than ${source} (npm run build)` : undefined;
}

function bundle(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BUNDLE, ...args], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
}

const stale = bundleOutOfDate();

describe('the bundled CLI, dist/cli.js', { skip: stale ?? false }, () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-cli-bundle-'));
    const config = { model_type: 'llama', hidden_size: 8, num_hidden_layers: 1, vocab_size: 12, tie_word_embeddings: false };
    await writeCheckpoint(join(root, 'base'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed: 5 }), { config });
    await writeCheckpoint(join(root, 'instruct'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed: 6 }), { config });
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('--version prints the version', () => {
    const version = bundle('--version');
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), TOOL_VERSION);
  });

  it('exits 0 with one JSON line on stdout, 1 when verify fails, 2 on bad usage', () => {
    const out = join(root, 'residual-swapped');
    const compute = bundle('compute', '--base', join(root, 'instruct'), '--instruct', join(root, 'base'), '--out', out, '--json');
    assert.equal(compute.status, 0, compute.stderr);
    assert.equal(compute.stdout.split('\n').length, 2, 'one line and its newline');
    assert.equal((JSON.parse(compute.stdout) as { kind: string }).kind, 'compute');
    const verify = bundle('verify', '--base', join(root, 'base'), '--residual', out, '--instruct', join(root, 'instruct'));
    assert.equal(verify.status, 1, verify.stderr);
    assert.match(verify.stdout, /^MISMATCH: /);
    const usage = bundle('compute', '--base', 'x', '--json');
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /error: required option/);
    assert.equal((JSON.parse(usage.stdout) as { rule: string }).rule, 'usage');
  });
});
