/**
 * Input reads around and through the page cache: the same bytes either way, at any position and
 * length, a refused direct read falls back, a shortened file is an error, and `fincore` tells
 * cached files from uncached ones.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { INPUT_READ_SLACK, InputFiles, inputReadMode } from '../../../src/engine/io/input-files';
import { mostlyUncachedFiles } from '../../../src/engine/io/page-cache';
import { loadKernels, type KernelBuffer } from '../../../src/engine/kernels/kernels';

const scratch = mkdtemp(join(tmpdir(), 'surgeon-input-files-'));
after(async () => rm(await scratch, { recursive: true, force: true }));

async function randomFile(name: string, size: number): Promise<{ path: string; bytes: Buffer }> {
  const path = join(await scratch, name);
  const bytes = randomBytes(size);
  await writeFile(path, bytes);
  return { path, bytes };
}

/** Whether the scratch folder's filesystem takes O_DIRECT (tmpfs before Linux 6.6 does not). */
async function directSupported(path: string): Promise<boolean> {
  if (constants.O_DIRECT === undefined) return false;
  try {
    closeSync(openSync(path, constants.O_RDONLY | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  }
}

const FILE_BYTES = 5 * 4096 + 777;
/** [position, length]: inside one block, across blocks, aligned, ending at the file's unaligned end. */
const RANGES: Array<[number, number]> = [[0, 1], [1, 4095], [4095, 2], [4096, 8192], [5000, 12_000], [FILE_BYTES - 3000, 3000], [FILE_BYTES - 1, 1]];

test('direct and cached reads hand back the same bytes at any position and length', async () => {
  const { path, bytes } = await randomFile('ranges.bin', FILE_BYTES);
  const kernels = await loadKernels('wasm-simd');
  const target = kernels.allocate(16_384 + INPUT_READ_SLACK);
  for (const mode of ['direct', 'cached'] as const) {
    const files = await InputFiles.open([path, path], mode);
    try {
      for (const [position, length] of RANGES) {
        const view = await files.read(path, 'tensor', target, position, length);
        assert.ok(bytes.subarray(position, position + length).equals(view.bytes.subarray(0, length)), `${mode} ${position}+${length}`);
        assert.ok(view.byteLength >= length);
      }
      if (mode === 'direct' && await directSupported(path)) {
        assert.equal(files.readsDirectly(path), true, 'WebAssembly memory is page-aligned, so direct reads are taken');
      }
      assert.equal(files.readsDirectly(path) && mode === 'cached', false);
    } finally {
      await files.closeAll();
    }
  }
  kernels.free(target);
});

/** Whether the system takes a direct read into the page-aligned-looking part of `target`, as InputFiles would issue it. */
function takesDirectReadInto(path: string, target: KernelBuffer): boolean {
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  try {
    readSync(fd, target.bytes, (4096 - (target.bytes.byteOffset % 4096)) % 4096, 4096, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw error;
  } finally {
    closeSync(fd);
  }
}

test('under the plain-JS kernels a direct read the system refuses (memory it cannot align) goes through the cache, and so does the rest of that file', async (t) => {
  const { path, bytes } = await randomFile('plain-js.bin', FILE_BYTES);
  if (!await directSupported(path)) return t.skip('the filesystem refuses O_DIRECT');
  const kernels = await loadKernels('js');
  const target = kernels.allocate(16_384 + INPUT_READ_SLACK);
  // The plain-JS kernels' memory is an ArrayBuffer whose address JavaScript cannot see: it may or may not be aligned.
  const taken = takesDirectReadInto(path, target);
  const files = await InputFiles.open([path], 'direct');
  try {
    for (const [position, length] of RANGES) {
      const view = await files.read(path, 'tensor', target, position, length);
      assert.ok(bytes.subarray(position, position + length).equals(view.bytes.subarray(0, length)), `${position}+${length}`);
    }
    assert.equal(files.readsDirectly(path), taken, taken ? 'the aligned memory was read into directly' : 'the refusal moved the file to cached reads');
  } finally {
    await files.closeAll();
  }
  kernels.free(target);
});

test('a file that ends before the planned tensor is an input-changed error naming the file and the tensor, in both modes', async () => {
  const { path } = await randomFile('shortened.bin', FILE_BYTES);
  await truncate(path, 6000);
  const kernels = await loadKernels('wasm-simd');
  const target = kernels.allocate(16_384 + INPUT_READ_SLACK);
  for (const mode of ['direct', 'cached'] as const) {
    const files = await InputFiles.open([path], mode);
    try {
      await assert.rejects(files.read(path, 'model.norm.weight', target, 5000, 4000), (error: unknown) => {
        assert.ok(isSurgeonError(error), String(error));
        assert.equal(error.rule, 'input-changed');
        assert.equal(error.file, path);
        assert.equal(error.tensor, 'model.norm.weight');
        return true;
      });
    } finally {
      await files.closeAll();
    }
  }
  kernels.free(target);
});

test('CHECKPOINT_SURGEON_DIRECT_IO picks the read mode: off reads through the cache, always around it', () => {
  assert.equal(inputReadMode({}), 'auto');
  assert.equal(inputReadMode({ CHECKPOINT_SURGEON_DIRECT_IO: 'off' }), 'cached');
  assert.equal(inputReadMode({ CHECKPOINT_SURGEON_DIRECT_IO: 'always' }), 'direct');
});

function hasCommand(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('fincore tells a file dropped from the page cache from one just read', async (t) => {
  if (process.platform !== 'linux' || !hasCommand('fincore') || !hasCommand('dd')) return t.skip('needs Linux with util-linux fincore and GNU dd');
  const { path } = await randomFile('residency.bin', 2 * 1024 * 1024);
  const other = await randomFile('other.bin', 64 * 1024);
  execFileSync('sync', [path]);
  // GNU dd's nocache with nothing copied asks the kernel to drop the whole (clean) file from the cache.
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
  const afterDrop = await mostlyUncachedFiles([path, other.path, join(await scratch, 'missing.bin')]);
  assert.deepEqual([...afterDrop], [path], 'only the dropped file is uncached; a missing one is not reported');
  execFileSync('cat', [path], { stdio: 'ignore' });
  assert.deepEqual([...await mostlyUncachedFiles([path])], []);
  // And the input reads follow: the dropped file is read around the cache, the cached one through it.
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
  const files = await InputFiles.open([path, other.path], 'auto');
  assert.equal(files.readsDirectly(path), constants.O_DIRECT !== undefined);
  assert.equal(files.readsDirectly(other.path), false);
  await files.closeAll();
});
