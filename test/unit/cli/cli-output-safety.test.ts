/**
 * "First, do no harm": the CLI never writes over, into or around its inputs, replaces only what it
 * wrote itself, clears what a killed job left behind, and honours the umask. Each refusal is checked
 * by its message, its exit code and a digest of every file under the test root before and after.
 * The CLI runs in this process; a job really killed with SIGKILL is in cli-process.slow.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROVENANCE_FILE } from '../../../src/engine/io/provenance-file';
import type { ComputeResult } from '../../../src/shared/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { runCliWith, type CliRun } from '../../helpers/run-cli';
import { treeDigest } from '../../helpers/tree-digest';

const EXIT_REFUSED = 1;

/** Runs the CLI in this process (much faster than spawning it) from `cwd`, capturing what it prints. */
function cli(args: readonly string[], cwd?: string): Promise<CliRun> {
  return runCliWith(cwd !== undefined ? { cwd } : {}, ...args);
}

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('the CLI does no harm to what it did not write', () => {
  let root: string;
  let base: string;
  let instruct: string;
  let shard: string;
  const config = { model_type: 'llama', hidden_size: 16, num_hidden_layers: 2, vocab_size: 32, tie_word_embeddings: false };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-output-safety-'));
    base = join(root, 'base');
    instruct = join(root, 'instruct');
    const written = await writeCheckpoint(base, llamaLikeTensors({ layers: 2, hidden: 16, vocab: 32, dtype: 'BF16', tied: false, seed: 1 }), { config, shardSize: 2048 });
    assert.ok(written.files.length >= 3, 'the base is sharded');
    shard = join(base, written.files[0]!);
    await writeCheckpoint(instruct, llamaLikeTensors({ layers: 2, hidden: 16, vocab: 32, dtype: 'BF16', tied: false, seed: 2 }), {
      config, sideFiles: { 'generation_config.json': '{"max_length": 32}\n' },
    });
    await symlink(base, join(root, 'base-link'));
  });
  after(async () => rm(root, { recursive: true, force: true }));

  const compute = (out: string, ...extra: string[]): string[] => ['compute', '--base', base, '--instruct', instruct, '--out', out, ...extra];

  /** The run is refused under `rule` with `message`, exits 1, and nothing under the test root changed. */
  async function assertRefused(args: readonly string[], rule: string, message: RegExp, cwd?: string): Promise<void> {
    const before = await treeDigest(root);
    const run = await cli(args, cwd);
    assert.equal(run.code, EXIT_REFUSED, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, new RegExp(`\\[${rule}\\]`), args.join(' '));
    assert.match(run.stderr, message, args.join(' '));
    assert.equal(run.stdout, '');
    assert.deepEqual(await treeDigest(root), before, `${args.join(' ')} changed files`);
  }

  describe('an output that overlaps an input is refused, with --overwrite or without', () => {
    const cases: Array<{ name: string; out: () => string; cwd?: () => string; message: RegExp }> = [
      { name: 'out = base', out: () => base, message: /the output is the base checkpoint/ },
      { name: 'out = instruct', out: () => instruct, message: /the output is the instruct checkpoint/ },
      { name: 'out = . (the folder holding both)', out: () => '.', cwd: () => root, message: /the output contains the base checkpoint/ },
      { name: 'out = .. (from inside base)', out: () => '..', cwd: () => base, message: /the output contains the base checkpoint/ },
      { name: 'out = a shard of base', out: () => shard, message: /is model-00001-of-\d+\.safetensors, a file of the base checkpoint/ },
      { name: 'out inside base', out: () => join(base, 'sub'), message: /the output is inside the base checkpoint/ },
      { name: 'out = a symbolic link to base', out: () => join(root, 'base-link'), message: /the output is the base checkpoint/ },
    ];
    for (const { name, out, cwd, message } of cases) {
      for (const extra of [[], ['--overwrite'], ['--overwrite', '--dry-run']]) {
        it(`${name} ${extra.join(' ')}`.trim(), async () => {
          await assertRefused(compute(out(), ...extra), 'output-overlaps-input', message, cwd?.());
        });
      }
    }

    it('apply onto its own residual is refused', async () => {
      const residual = join(root, 'residual-for-apply');
      assert.equal((await cli(compute(residual))).code, 0);
      await assertRefused(['apply', '--base', base, '--residual', residual, '--out', residual, '--overwrite'], 'output-overlaps-input',
        /the output is the residual checkpoint/);
      await rm(residual, { recursive: true });
    });
  });

  describe('--overwrite replaces only an empty folder or an earlier output of this tool', () => {
    it('a folder of the user\'s files is refused, naming --overwrite when it is absent', async () => {
      const mine = join(root, 'my-files');
      await mkdir(mine);
      await writeFile(join(mine, 'notes.md'), 'mine');
      await assertRefused(compute(mine), 'output-exists', /already exists and is a folder without the provenance\.json.*--overwrite replaces only/);
      await assertRefused(compute(mine, '--overwrite'), 'output-not-ours', /is a folder without the provenance\.json .*may hold files of yours/);
      await rm(mine, { recursive: true });
    });

    it('a single file of the user\'s is refused', async () => {
      const file = join(root, 'residual.txt');
      await writeFile(file, 'mine');
      await assertRefused(compute(file), 'output-exists', /is a file.*--overwrite/);
      await assertRefused(compute(file, '--overwrite'), 'output-not-ours', /the output is a file/);
      await rm(file);
    });

    it('an empty folder is written into, with --overwrite or without', async () => {
      for (const extra of [[], ['--overwrite']]) {
        const empty = join(root, 'empty');
        await mkdir(empty);
        const run = await cli(compute(empty, ...extra));
        assert.equal(run.code, 0, run.stderr);
        assert.ok((await readdir(empty)).includes('model.safetensors'));
        await rm(empty, { recursive: true });
      }
    });

    it('an earlier compute output is refused without --overwrite and replaced with it, leaving nothing aside', async () => {
      const out = join(root, 'replaced');
      assert.equal((await cli(compute(out))).code, 0);
      await writeFile(join(out, 'left-by-the-old-run.txt'), 'old');
      await assertRefused(compute(out), 'output-exists', /an earlier compute output of checkpoint-surgeon\); pass --overwrite to replace it/);
      const run = await cli(compute(out, '--overwrite', '--dtype', 'f64'));
      assert.equal(run.code, 0, run.stderr);
      assert.ok(!(await readdir(out)).includes('left-by-the-old-run.txt'), 'the old output\'s files are gone');
      const provenance = JSON.parse(await readFile(join(out, PROVENANCE_FILE), 'utf8')) as { dtype: string };
      assert.equal(provenance.dtype, 'F64', 'the new output is in place');
      assert.deepEqual(readdirSync(root).filter((name) => name.startsWith('.replaced.')), [], 'no .old-*, partial or lock left');
      await rm(out, { recursive: true });
    });
  });

  it('what a killed job left (a partial folder, a lock of a dead process) is removed by the next job, which says so', async () => {
    const out = join(root, 'after-kill');
    const partial = join(root, '.after-kill.partial-xyz');
    await mkdir(partial);
    await writeFile(join(partial, 'model-00001-of-00002.safetensors'), 'half a shard');
    const lock = join(root, '.after-kill.lock');
    await writeFile(lock, JSON.stringify({ pid: deadPid(), createdAt: new Date().toISOString() }));
    const run = await cli(compute(out, '--json'));
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as ComputeResult;
    const issue = result.issues.find((candidate) => candidate.rule === 'stale-output-removed');
    assert.ok(issue, JSON.stringify(result.issues));
    assert.equal(issue.severity, 'warning');
    assert.ok(issue.message.includes(partial) && issue.message.includes(lock), issue.message);
    assert.deepEqual(readdirSync(root).filter((name) => name.startsWith('.after-kill.')), []);
    const secondPartial = join(root, '.after-kill-2.partial-abc');
    await mkdir(secondPartial);
    const human = await cli(compute(join(root, 'after-kill-2')));
    assert.equal(human.code, 0, human.stderr);
    assert.ok(human.stdout.includes(`warning: removed what an interrupted job had left behind: ${secondPartial}`), human.stdout);
    await rm(out, { recursive: true });
    await rm(join(root, 'after-kill-2'), { recursive: true });
  });

  for (const [umask, folderMode, fileMode] of [[0o022, 0o755, 0o644], [0o027, 0o750, 0o640]] as const) {
    it(`under umask ${umask.toString(8).padStart(3, '0')} the output is ${folderMode.toString(8)} folders and ${fileMode.toString(8)} files`, { skip: process.platform === 'win32' }, async () => {
      const out = join(root, `umask-${umask.toString(8)}`, 'residual');
      const previous = process.umask(umask);
      let run: CliRun;
      try {
        run = await cli(compute(out));
      } finally {
        process.umask(previous);
      }
      assert.equal(run.code, 0, run.stderr);
      const modeOf = async (path: string): Promise<string> => ((await stat(path)).mode & 0o777).toString(8);
      const folders = [dirname(out), out];
      assert.deepEqual(await Promise.all(folders.map(modeOf)), folders.map(() => folderMode.toString(8)), 'the folders it created');
      const files = await readdir(out);
      assert.ok(files.includes('generation_config.json'), 'a side file copied from the instruct model is checked too');
      const fileModes = await Promise.all(files.map(async (name) => [name, await modeOf(join(out, name))]));
      assert.deepEqual(fileModes, files.map((name) => [name, fileMode.toString(8)]));
      await rm(dirname(out), { recursive: true });
    });
  }
});
