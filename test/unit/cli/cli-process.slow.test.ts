/**
 * The CLI as a real process (from its sources, through tsx), where the other CLI tests run `main` in
 * their own: the exit status the shell sees, a stdout that holds the one --json object and nothing
 * else, Ctrl-C and SIGKILL. cli-bundle.test.ts runs the bundled dist/cli.js.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ComputeResult } from '../../../src/shared/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { cliProcessArgs, runCli } from '../../helpers/run-cli';

const ENV = { ...process.env, HF_HUB_OFFLINE: '1' };

function spawnCli(args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...cliProcessArgs, ...args], { encoding: 'utf8', env: ENV });
}

describe('the checkpoint-surgeon process', () => {
  let root: string;
  let bigBase: string;
  let bigInstruct: string;
  const config = { model_type: 'llama', hidden_size: 8, num_hidden_layers: 1, vocab_size: 12, tie_word_embeddings: false };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-cli-process-'));
    await writeCheckpoint(join(root, 'base'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed: 5 }), { config });
    await writeCheckpoint(join(root, 'instruct'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed: 6 }), { config });
    // Big enough (F32, about 13 MB each) that a signal lands while the job writes.
    bigBase = join(root, 'big-base');
    bigInstruct = join(root, 'big-instruct');
    const bigConfig = { ...config, hidden_size: 256, num_hidden_layers: 4, vocab_size: 1024 };
    await writeCheckpoint(bigBase, llamaLikeTensors({ layers: 4, hidden: 256, vocab: 1024, dtype: 'F32', tied: false, seed: 3 }), { config: bigConfig });
    await writeCheckpoint(bigInstruct, llamaLikeTensors({ layers: 4, hidden: 256, vocab: 1024, dtype: 'F32', tied: false, seed: 4 }), { config: bigConfig });
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('exits 0 with one JSON line on stdout, 1 when verify fails, 2 on bad usage', () => {
    const out = join(root, 'residual-swapped');
    const compute = spawnCli(['compute', '--base', join(root, 'instruct'), '--instruct', join(root, 'base'), '--out', out, '--json']);
    assert.equal(compute.status, 0, compute.stderr);
    assert.equal(compute.stdout.split('\n').length, 2, 'one line and its newline');
    assert.equal((JSON.parse(compute.stdout) as { kind: string }).kind, 'compute');
    const verify = spawnCli(['verify', '--base', join(root, 'base'), '--residual', out, '--instruct', join(root, 'instruct')]);
    assert.equal(verify.status, 1, verify.stderr);
    assert.match(verify.stdout, /^MISMATCH: /);
    const usage = spawnCli(['compute', '--base', 'x', '--json']);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /error: required option/);
    assert.equal((JSON.parse(usage.stdout) as { rule: string }).rule, 'usage');
  });

  it('Ctrl-C (SIGINT) cancels a job: exit 130, and neither the output nor its partial folder or lock is left', async (t) => {
    const out = join(root, 'interrupted');
    const child = spawn(process.execPath, [...cliProcessArgs, 'compute', '--base', bigBase, '--instruct', bigInstruct, '--out', out, '--dtype', 'f64'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    let running = true;
    void exited.then(() => { running = false; });
    while (running && !readdirSync(root).some((name) => name.startsWith('.interrupted.partial-'))) await new Promise((wait) => setTimeout(wait, 2));
    child.kill('SIGINT');
    const code = await exited;
    if (code === 0) {
      t.skip('the job finished before the signal landed');
      return;
    }
    assert.equal(code, 130, stderr);
    assert.match(stderr, /cancelled/);
    assert.ok(!existsSync(out), 'no output');
    assert.deepEqual(readdirSync(root).filter((name) => name.startsWith('.interrupted.')), [], 'no partial folder or lock');
  });

  it('a job really killed with SIGKILL mid-write: the next job clears what it left and succeeds', async (t) => {
    const out = join(root, 'killed');
    // Only SIGKILL leaves what no cleanup of the job's own removed.
    const child = spawn(process.execPath, [...cliProcessArgs, 'compute', '--base', bigBase, '--instruct', bigInstruct, '--out', out, '--dtype', 'f64'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_code, signal) => done(signal)));
    let running = true;
    void exited.then(() => { running = false; });
    while (running && !readdirSync(root).some((name) => name.startsWith('.killed.partial-'))) await new Promise((wait) => setTimeout(wait, 2));
    child.kill('SIGKILL');
    const signal = await exited;
    const left = readdirSync(root).filter((name) => name.startsWith('.killed.'));
    if (signal !== 'SIGKILL' || existsSync(out)) {
      t.skip('the job finished before the kill landed');
      return;
    }
    assert.ok(left.some((name) => name.startsWith('.killed.partial-')) && left.includes('.killed.lock'), left.join(', '));
    const run = await runCli('compute', '--base', bigBase, '--instruct', bigInstruct, '--out', out, '--json');
    assert.equal(run.code, 0, run.stderr);
    const issue = (JSON.parse(run.stdout) as ComputeResult).issues.find((candidate) => candidate.rule === 'stale-output-removed');
    for (const name of left) assert.ok(issue?.message.includes(join(root, name)), `${name} reported as removed: ${issue?.message}`);
    assert.deepEqual(readdirSync(root).filter((name) => name.startsWith('.killed.')), []);
    await rm(out, { recursive: true });
  });
});
