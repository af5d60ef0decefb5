import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, rename, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { createAtomicOutput } from '../../../src/engine/io/atomic-output';
import type { InputLocation } from '../../../src/engine/io/output-overlap';
import { TOOL_NAME } from '../../../src/engine/version';
import { PROVENANCE_FILE } from '../../../src/engine/io/provenance-file';
import { scratchFolders } from '../../helpers/scratch-folders';
import { treeDigest } from '../../helpers/tree-digest';

const parentFolder = scratchFolders('surgeon-atomic-');

function isRefusal(rule: string, message?: RegExp) {
  return (error: unknown) => error instanceof SurgeonError && error.rule === rule && (message === undefined || message.test(error.message));
}

/** A folder as compute writes it: weights and the provenance that names this tool. */
async function earlierOutput(parent: string, name: string): Promise<string> {
  const folder = join(parent, name);
  await mkdir(folder);
  await writeFile(join(folder, 'model.safetensors'), 'old weights');
  await writeFile(join(folder, PROVENANCE_FILE), JSON.stringify({ tool: { name: TOOL_NAME, version: '0.0.1' }, operation: 'compute' }));
  return folder;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const pid = Number(child.stdout.toString());
  assert.ok(pid > 0);
  return pid;
}

test('commit moves a hidden partial folder into place and leaves nothing behind', async () => {
  const parent = await parentFolder();
  const target = join(parent, 'residual');
  const output = await createAtomicOutput(target);
  assert.equal(dirname(output.dir), parent);
  assert.match(basename(output.dir), /^\.residual\.partial-/);
  await mkdir(join(output.dir, 'nested'));
  await writeFile(join(output.dir, 'model.safetensors'), 'weights');
  await writeFile(join(output.dir, 'nested', 'note.txt'), 'n');
  assert.deepEqual((await readdir(parent)).sort(), ['.residual.lock', basename(output.dir)].sort());
  await output.commit();
  assert.equal(await readFile(join(target, 'model.safetensors'), 'utf8'), 'weights');
  assert.equal(await readFile(join(target, 'nested', 'note.txt'), 'utf8'), 'n');
  assert.deepEqual(await readdir(parent), ['residual']);
  await output.abort();
  assert.equal(await readFile(join(target, 'model.safetensors'), 'utf8'), 'weights', 'abort after commit is a no-op');
  await assert.rejects(output.commit(), isRefusal('usage'));
});

test('abort removes the partial folder and the lock, and is idempotent', async () => {
  const parent = await parentFolder();
  const output = await createAtomicOutput(join(parent, 'out'));
  await writeFile(join(output.dir, 'half-written.safetensors'), 'x');
  await output.abort();
  await output.abort();
  assert.deepEqual(await readdir(parent), []);
  await assert.rejects(output.commit(), isRefusal('usage'));
});

test('an earlier output of ours is refused unless overwriting, and then replaced', async () => {
  const parent = await parentFolder();
  const target = await earlierOutput(parent, 'out');
  await assert.rejects(createAtomicOutput(target), (error: unknown) =>
    isRefusal('output-exists')(error) && (error as SurgeonError).file === target && /--overwrite/.test((error as Error).message));
  assert.deepEqual(await readdir(parent), ['out'], 'a refusal leaves no lock or partial folder');
  const output = await createAtomicOutput(target, { overwrite: true });
  await writeFile(join(output.dir, 'new.txt'), 'new');
  await output.commit();
  assert.deepEqual(await readdir(target), ['new.txt']);
  assert.deepEqual(await readdir(parent), ['out'], 'the old output moved aside is gone');

  const fileTarget = join(parent, 'a-file');
  await writeFile(fileTarget, 'x');
  await assert.rejects(createAtomicOutput(fileTarget), (error: unknown) =>
    isRefusal('output-exists')(error) && /is a file/.test((error as Error).message) && /--overwrite/.test((error as Error).message));
});

test('an empty existing folder is fine to write into', async () => {
  const parent = await parentFolder();
  const target = join(parent, 'empty');
  await mkdir(target);
  const output = await createAtomicOutput(target);
  await writeFile(join(output.dir, 'x'), '1');
  await output.commit();
  assert.deepEqual(await readdir(target), ['x']);
});

test('a target that appears while writing is not clobbered without overwrite', async () => {
  const parent = await parentFolder();
  const target = join(parent, 'out');
  const output = await createAtomicOutput(target);
  await mkdir(target);
  await writeFile(join(target, 'someone-else.txt'), 'theirs');
  await assert.rejects(output.commit(), isRefusal('output-exists'));
  assert.deepEqual(await readdir(target), ['someone-else.txt']);
  await output.abort();
  assert.deepEqual(await readdir(parent), ['out']);
});

test('a second job on the same target is refused while the first runs, and allowed after', async () => {
  const parent = await parentFolder();
  const target = join(parent, 'out');
  const first = await createAtomicOutput(target);
  await assert.rejects(createAtomicOutput(target), (error: unknown) =>
    isRefusal('output-busy')(error) && /process \d+/.test((error as Error).message));
  await assert.rejects(createAtomicOutput(target, { overwrite: true }), isRefusal('output-busy'));
  await first.abort();
  const second = await createAtomicOutput(target);
  await second.commit();
  assert.deepEqual(await readdir(target), []);
});

test('a lock left by a process that died is taken over', async () => {
  const parent = await parentFolder();
  const target = join(parent, 'out');
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(child.stdout.toString());
  assert.ok(deadPid > 0);
  await writeFile(join(parent, '.out.lock'), JSON.stringify({ pid: deadPid, createdAt: '2020-01-01T00:00:00.000Z' }));
  const output = await createAtomicOutput(target);
  assert.deepEqual(output.cleaned, [join(parent, '.out.lock')], 'the dead job\'s lock is reported as removed');
  await output.commit();
  assert.deepEqual(await readdir(parent), ['out']);
});

test('overwrite replaces nothing that this tool did not write, and says why', async () => {
  const parent = await parentFolder();
  const users = join(parent, 'my-notes');
  await mkdir(users);
  await writeFile(join(users, 'thesis.tex'), 'years of work');
  const userFile = join(parent, 'notes.txt');
  await writeFile(userFile, 'mine');
  const link = join(parent, 'link');
  await symlink(await earlierOutput(parent, 'ours'), link);
  const impostor = join(parent, 'impostor');
  await mkdir(impostor);
  await writeFile(join(impostor, PROVENANCE_FILE), JSON.stringify({ tool: { name: 'other-tool' }, operation: 'compute' }));
  const before = await treeDigest(parent);
  const cases: Array<[string, RegExp]> = [
    [users, /is a folder without the provenance\.json/],
    [userFile, /is a file/],
    [link, /is a symbolic link/],
    [impostor, /is a folder without the provenance\.json/],
  ];
  for (const [target, why] of cases) {
    await assert.rejects(createAtomicOutput(target, { overwrite: true }), isRefusal('output-not-ours', why), target);
    await assert.rejects(createAtomicOutput(target), isRefusal('output-exists', /--overwrite replaces only/), target);
  }
  assert.deepEqual(await treeDigest(parent), before, 'nothing changed');
});

test('an output that is an input, holds one or lies inside one is refused, with --overwrite or without', async () => {
  const parent = await parentFolder();
  const base = join(parent, 'base');
  await mkdir(base);
  await writeFile(join(base, 'model-00001-of-00002.safetensors'), 'a');
  await writeFile(join(base, 'model-00002-of-00002.safetensors'), 'b');
  await writeFile(join(base, 'model.safetensors.index.json'), '{}');
  const single = join(parent, 'downloads', 'instruct.safetensors');
  await mkdir(dirname(single));
  await writeFile(single, 'c');
  await symlink(base, join(parent, 'base-link'));
  const inputs: Record<string, InputLocation> = {
    base: {
      root: base, layout: 'sharded', indexPath: join(base, 'model.safetensors.index.json'),
      files: [{ path: join(base, 'model-00001-of-00002.safetensors') }, { path: join(base, 'model-00002-of-00002.safetensors') }],
    },
    instruct: { root: dirname(single), layout: 'file', files: [{ path: single }] },
  };
  const before = await treeDigest(parent);
  const refused: Array<[string, RegExp]> = [
    [base, /the output is the base checkpoint/],
    [join(base, 'sub', 'deeper'), /the output is inside the base checkpoint/],
    [join(base, 'model-00001-of-00002.safetensors'), /is model-00001-of-00002\.safetensors, a file of the base checkpoint/],
    [parent, /the output contains the base checkpoint/],
    [join(parent, 'base-link'), /the output is the base checkpoint/],
    [join(parent, 'base-link', 'residual'), /is inside the base checkpoint/],
    [join(base, '..', 'downloads'), /the output is the folder of the instruct checkpoint/],
    [single, /is instruct\.safetensors, a file of the instruct checkpoint/],
  ];
  for (const [out, message] of refused) {
    for (const overwrite of [false, true]) {
      await assert.rejects(createAtomicOutput(out, { overwrite, inputs }), isRefusal('output-overlaps-input', message), `${out} overwrite=${overwrite}`);
    }
  }
  assert.deepEqual(await treeDigest(parent), before, 'a refusal changes nothing: no lock, no partial folder, no parent folder');

  // Beside a single-file input, in its folder, is fine: only the file is the input.
  const beside = await createAtomicOutput(join(dirname(single), 'residual'), { inputs });
  await beside.commit();
  const sibling = await createAtomicOutput(join(parent, 'residual'), { inputs });
  await sibling.commit();
});

test('a dangling symbolic link as the output is judged by where it points', async () => {
  const parent = await parentFolder();
  const base = join(parent, 'base');
  await mkdir(base);
  await writeFile(join(base, 'model.safetensors'), 'a');
  await symlink(join(base, 'not-yet'), join(parent, 'dangling'));
  const inputs = { base: { root: base, layout: 'single' as const, files: [{ path: join(base, 'model.safetensors') }] } };
  await assert.rejects(createAtomicOutput(join(parent, 'dangling'), { inputs }), isRefusal('output-overlaps-input', /inside the base checkpoint/));
});

test('what a killed job left beside the target is removed by the next job, which says so', async () => {
  const parent = await parentFolder();
  const target = join(parent, 'out');
  await earlierOutput(parent, 'out');
  const partial = join(parent, '.out.partial-xyz123');
  await mkdir(partial);
  await writeFile(join(partial, 'model.safetensors'), 'half');
  const aside = await earlierOutput(parent, '.out.old-0badf00d');
  const claim = join(parent, '.out.lock.stale-1234abcd');
  await writeFile(claim, '{}');
  await writeFile(join(parent, '.out.lock'), JSON.stringify({ pid: deadPid(), createdAt: '2020-01-01T00:00:00.000Z' }));
  // Names of other targets, and files that only look alike, are not touched.
  await mkdir(join(parent, '.out2.partial-abc'));
  await mkdir(join(parent, '.out.partial-x.y'));
  await writeFile(join(parent, 'out.partial-abc'), 'user file');

  const output = await createAtomicOutput(target, { overwrite: true });
  assert.deepEqual([...output.cleaned].sort(), [join(parent, '.out.lock'), aside, claim, partial].sort());
  assert.equal(output.restored, undefined);
  await writeFile(join(output.dir, 'new.txt'), 'new');
  await output.commit();
  assert.deepEqual((await readdir(parent)).sort(), ['.out.partial-x.y', '.out2.partial-abc', 'out', 'out.partial-abc']);
  assert.deepEqual(await readdir(target), ['new.txt']);
});

test('a job killed between moving the old output aside and the new one in: the old one is put back', async () => {
  const parent = await parentFolder();
  const target = join(parent, 'out');
  const aside = await earlierOutput(parent, '.out.old-12345678');
  const partial = join(parent, '.out.partial-abcdef');
  await mkdir(partial);
  await writeFile(join(parent, '.out.lock'), JSON.stringify({ pid: deadPid(), createdAt: '2020-01-01T00:00:00.000Z' }));

  // Without --overwrite the put-back output is refused like any earlier output...
  await assert.rejects(createAtomicOutput(target), isRefusal('output-exists', /--overwrite/));
  assert.deepEqual((await readdir(parent)).sort(), ['out'], 'the old output is back, the rest removed');
  assert.equal(await readFile(join(target, 'model.safetensors'), 'utf8'), 'old weights');

  // ... and with it, replaced.
  await rename(target, aside);
  const output = await createAtomicOutput(target, { overwrite: true });
  assert.equal(output.restored, aside);
  await output.commit();
  assert.deepEqual(await readdir(parent), ['out']);
  assert.deepEqual(await readdir(target), []);
});

test('a lock whose pid now belongs to another process is stale (Linux: the start time differs)', { skip: process.platform !== 'linux' }, async () => {
  const parent = await parentFolder();
  await writeFile(join(parent, '.out.lock'), JSON.stringify({ pid: process.pid, createdAt: '2020-01-01T00:00:00.000Z', processStart: '1' }));
  const output = await createAtomicOutput(join(parent, 'out'));
  assert.deepEqual(output.cleaned, [join(parent, '.out.lock')]);
  await output.abort();
});

test('an empty lock is being written now, unless it is old: then a job died writing it', async () => {
  const parent = await parentFolder();
  const lock = join(parent, '.out.lock');
  await writeFile(lock, '');
  await assert.rejects(createAtomicOutput(join(parent, 'out')), isRefusal('output-busy'));
  await utimes(lock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const output = await createAtomicOutput(join(parent, 'out'));
  assert.deepEqual(output.cleaned, [lock]);
  await output.abort();
});

test('a lock of this process, as a job in a worker thread holds it, is respected', async () => {
  const parent = await parentFolder();
  const first = await createAtomicOutput(join(parent, 'out'));
  const lock = JSON.parse(await readFile(join(parent, '.out.lock'), 'utf8')) as { pid: number };
  assert.equal(lock.pid, process.pid);
  await assert.rejects(createAtomicOutput(join(parent, 'out'), { overwrite: true }), isRefusal('output-busy'));
  assert.ok((await readdir(parent)).includes(basename(first.dir)), 'the running job\'s partial folder is left alone');
  await first.abort();
});

for (const [umask, folderMode, fileMode] of [[0o022, 0o755, 0o644], [0o027, 0o750, 0o640], [0o002, 0o775, 0o664]] as const) {
  test(`the output honours the umask ${umask.toString(8).padStart(3, '0')}: folders ${folderMode.toString(8)}, files ${fileMode.toString(8)}`, { skip: process.platform === 'win32' }, async () => {
    const parent = await parentFolder();
    const previous = process.umask(umask);
    try {
      const target = join(parent, 'new-parent', 'out');
      const output = await createAtomicOutput(target);
      await mkdir(join(output.dir, 'nested'));
      await writeFile(join(output.dir, 'written.json'), '{}');
      await writeFile(join(output.dir, 'nested', 'deep.txt'), 'x');
      // A side file copied from an input keeps the input's mode: the commit gives it the umask's.
      await writeFile(join(output.dir, 'copied.json'), '{}');
      await chmod(join(output.dir, 'copied.json'), 0o600);
      await output.commit();
      assert.equal((await stat(dirname(target))).mode & 0o777, folderMode, 'the parent folder it created');
      for (const [path, mode] of [[target, folderMode], [join(target, 'nested'), folderMode]] as const) assert.equal((await stat(path)).mode & 0o777, mode, path);
      for (const name of ['written.json', 'copied.json', 'nested/deep.txt']) assert.equal((await stat(join(target, name))).mode & 0o777, fileMode, name);
    } finally {
      process.umask(previous);
    }
  });
}
