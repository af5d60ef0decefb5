import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removePartialOutput, snapshotOutput } from '../../../src/extension/partial-output';

test('removes what the job created and nothing else', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'partial-output-'));
  try {
    const old = join(parent, '.residual.partial-old');
    await mkdir(old);
    await utimes(old, new Date(0), new Date(0));
    await mkdir(join(parent, 'residual-keep'));
    const snapshot = await snapshotOutput(join(parent, 'residual'));
    assert.equal(snapshot.existed, false);
    await mkdir(join(parent, '.residual.partial-abc123'));
    await writeFile(join(parent, '.residual.partial-abc123', 'model.safetensors'), 'x');
    await mkdir(join(parent, 'residual'));
    const removed = await removePartialOutput(snapshot);
    assert.deepEqual(removed.sort(), [join(parent, '.residual.partial-abc123'), join(parent, 'residual')].sort());
    assert.deepEqual((await readdir(parent)).sort(), ['.residual.partial-old', 'residual-keep']);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

test('an output folder that existed before the job is kept', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'partial-output-'));
  try {
    await mkdir(join(parent, 'out'));
    const snapshot = await snapshotOutput(join(parent, 'out'));
    assert.deepEqual(await removePartialOutput(snapshot), []);
    assert.deepEqual(await readdir(parent), ['out']);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

test('a worker terminated while replacing an output gets the earlier output put back', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'partial-output-'));
  try {
    await mkdir(join(parent, 'out'));
    await writeFile(join(parent, 'out', 'model.safetensors'), 'earlier');
    const snapshot = await snapshotOutput(join(parent, 'out'));
    // What the engine leaves when killed between its two renames: the earlier output aside, its lock.
    await rename(join(parent, 'out'), join(parent, '.out.old-1a2b3c'));
    await writeFile(join(parent, '.out.lock'), JSON.stringify({ pid: process.pid, createdAt: new Date().toISOString() }));
    const removed = await removePartialOutput(snapshot);
    assert.deepEqual(removed, [join(parent, '.out.lock')]);
    assert.deepEqual(await readdir(parent), ['out']);
    assert.equal(await readFile(join(parent, 'out', 'model.safetensors'), 'utf8'), 'earlier');
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});
