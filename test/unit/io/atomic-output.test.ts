import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { createAtomicOutput } from '../../../src/engine/io/atomic-output';
import { scratchFolders } from '../../helpers/scratch-folders';

const parentFolder = scratchFolders('surgeon-atomic-');

function isRefusal(rule: string) {
  return (error: unknown) => error instanceof SurgeonError && error.rule === rule;
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

test('an existing non-empty target is refused unless overwriting, and then replaced', async () => {
  const parent = await parentFolder();
  const target = join(parent, 'out');
  await mkdir(target);
  await writeFile(join(target, 'old.txt'), 'old');
  await assert.rejects(createAtomicOutput(target), (error: unknown) =>
    isRefusal('output-exists')(error) && (error as SurgeonError).file === target);
  assert.deepEqual(await readdir(parent), ['out'], 'a refusal leaves no lock or partial folder');
  const output = await createAtomicOutput(target, { overwrite: true });
  await writeFile(join(output.dir, 'new.txt'), 'new');
  await output.commit();
  assert.deepEqual(await readdir(target), ['new.txt']);
  assert.deepEqual(await readdir(parent), ['out']);

  const fileTarget = join(parent, 'a-file');
  await writeFile(fileTarget, 'x');
  await assert.rejects(createAtomicOutput(fileTarget), isRefusal('output-exists'));
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
  await output.commit();
  assert.deepEqual(await readdir(parent), ['out']);
});
