import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, mock } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { OutputFile } from '../../../src/engine/io/output-file';
import { scratchFolders } from '../../helpers/scratch-folders';

const MiB = 1024 * 1024;
const scratchFolder = scratchFolders('surgeon-output-file-');

/** Bytes no two positions of which are likely to agree by chance (xorshift32). */
function patternBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

/** Writes `expected` as a header and then pieces of the given sizes, the way the tensor stream does. */
async function writeInPieces(file: OutputFile, expected: Uint8Array, headerBytes: number, pieces: readonly number[]): Promise<void> {
  let position = headerBytes;
  const pending: Array<Promise<void>> = [];
  for (const piece of pieces) {
    // A copy, reused by nobody: the file must have taken the bytes by the time the promise resolves.
    pending.push(file.write(expected.slice(position, position + piece), position));
    position += piece;
  }
  await Promise.all(pending);
  assert.equal(position, expected.byteLength, 'the pieces cover the file');
}

/** Whether the folder's filesystem opens files for direct I/O, asked without the code under test. */
async function acceptsDirectIo(folder: string): Promise<boolean> {
  if (constants.O_DIRECT === undefined) return false;
  const path = join(folder, 'probe');
  try {
    await (await fsPromises.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT)).close();
    return true;
  } catch {
    return false;
  } finally {
    await rm(path, { force: true });
  }
}

function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} refused`), { code, syscall });
}

function hasDirectFlag(flags: unknown): boolean {
  return typeof flags === 'number' && (flags & constants.O_DIRECT) !== 0;
}

describe('output files are written front to back, around the page cache where the filesystem allows', () => {
  const layouts: Array<{ name: string; header: number; pieces: number[] }> = [
    { name: 'odd pieces over several 1 MiB blocks, a short last block', header: 88, pieces: [MiB - 88, 3, MiB + 5, 1234567, 1, 4096, 77] },
    { name: 'a size that is a whole number of blocks', header: 4096, pieces: [MiB, MiB - 4096, MiB] },
    { name: 'pieces far larger than the staging', header: 24, pieces: [9 * MiB + 13, 5 * MiB] },
    { name: 'a header and no data', header: 40, pieces: [] },
  ];
  for (const mode of ['default', 'off'] as const) {
    for (const layout of layouts) {
      it(`${mode === 'off' ? 'CHECKPOINT_SURGEON_DIRECT_IO=off' : 'by default'}: ${layout.name}`, async () => {
        const folder = await scratchFolder();
        const path = join(folder, 'model.safetensors');
        const size = layout.header + layout.pieces.reduce((sum, piece) => sum + piece, 0);
        const expected = patternBytes(size, size);
        const env = mode === 'off' ? { CHECKPOINT_SURGEON_DIRECT_IO: 'off' } : {};
        const file = await OutputFile.create(path, expected.slice(0, layout.header), size, env);
        assert.equal(file.direct, mode === 'off' ? false : await acceptsDirectIo(folder));
        await writeInPieces(file, expected, layout.header, layout.pieces);
        await file.close();
        const written = await readFile(path);
        assert.equal(written.byteLength, size);
        assert.ok(written.equals(expected), 'every byte is where it was written');
      });
    }
  }

  it('refuses a write that is not where the last one ended, or that runs past the size', async () => {
    const folder = await scratchFolder();
    const path = join(folder, 'out.safetensors');
    const file = await OutputFile.create(path, new Uint8Array(16), 16 + 100);
    assert.throws(() => file.write(new Uint8Array(10), 20), /front to back and 16 of its 116 bytes are written/);
    assert.throws(() => file.write(new Uint8Array(101), 16), /101 bytes written at 16/);
    await file.write(new Uint8Array(50), 16);
    assert.throws(() => file.write(new Uint8Array(10), 16), /written at 16, .* 66 of its 116 bytes/);
    await assert.rejects(file.close(), (error: Error) => error.message === `${path}: closed with 66 of its 116 bytes written`);
  });

  it('writes through an ordinary handle when the filesystem refuses to open for direct I/O', async () => {
    const folder = await scratchFolder();
    const path = join(folder, 'model.safetensors');
    const realOpen = fsPromises.open;
    const openMock = mock.method(fsPromises, 'open', async (...args: Parameters<typeof fsPromises.open>) => {
      if (!hasDirectFlag(args[1])) return realOpen(...args);
      // As Linux does on tmpfs before 6.6: the file is created, then the open fails.
      await (await realOpen(args[0], constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL)).close();
      throw errnoError('EINVAL', 'open');
    });
    try {
      const expected = patternBytes(3 * MiB + 321, 7);
      const file = await OutputFile.create(path, expected.slice(0, 64), expected.byteLength);
      assert.equal(file.direct, false);
      await writeInPieces(file, expected, 64, [MiB, MiB, MiB + 321 - 64]);
      await file.close();
      assert.ok((await readFile(path)).equals(expected));
    } finally {
      openMock.mock.restore();
    }
  });

  it('goes on through an ordinary handle when the filesystem opens for direct I/O but refuses the writes', async () => {
    const folder = await scratchFolder();
    const path = join(folder, 'model.safetensors');
    const realOpen = fsPromises.open;
    let refusedWrites = 0;
    const openMock = mock.method(fsPromises, 'open', async (...args: Parameters<typeof fsPromises.open>) => {
      const handle = await realOpen(...args);
      if (!hasDirectFlag(args[1])) return handle;
      return new Proxy(handle, {
        get(target, property, receiver) {
          if (property === 'write') {
            return async () => {
              refusedWrites++;
              throw errnoError('EINVAL', 'write');
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    });
    try {
      const expected = patternBytes(5 * MiB + 4097, 11);
      const file = await OutputFile.create(path, expected.slice(0, 100), expected.byteLength);
      await writeInPieces(file, expected, 100, [2 * MiB, 2 * MiB, MiB + 4097 - 100]);
      await file.close();
      assert.ok((await readFile(path)).equals(expected));
      // Six blocks go out; only those already in flight when the first refusal came try the direct handle.
      assert.ok(refusedWrites >= 1 && refusedWrites <= 4, `${refusedWrites} direct writes were refused`);
      const ordinaryOpens = openMock.mock.calls.filter((call) => call.arguments[0] === path && call.arguments[1] === 'r+').length;
      assert.equal(ordinaryOpens, 1, 'one ordinary handle was opened, shared by every refused write');
    } finally {
      openMock.mock.restore();
    }
  });

  for (const mode of ['default', 'off'] as const) {
    it(`${mode === 'off' ? 'CHECKPOINT_SURGEON_DIRECT_IO=off' : 'by default'}: a full disk is a clear error naming the file, on the write or on close`, async () => {
      const folder = await scratchFolder();
      const path = join(folder, 'model.safetensors');
      const realOpen = fsPromises.open;
      const openMock = mock.method(fsPromises, 'open', async (...args: Parameters<typeof fsPromises.open>) => {
        const handle = await realOpen(...args);
        let writes = 0;
        return new Proxy(handle, {
          get(target, property, receiver) {
            if (property === 'write') {
              return async (...writeArgs: unknown[]) => {
                if (++writes > 1) throw errnoError('ENOSPC', 'write');
                return (target.write as (...a: unknown[]) => unknown).apply(target, writeArgs);
              };
            }
            const value = Reflect.get(target, property, receiver);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      });
      try {
        const expected = patternBytes(4 * MiB, 3);
        const file = await OutputFile.create(path, expected.slice(0, 8), expected.byteLength, mode === 'off' ? { CHECKPOINT_SURGEON_DIRECT_IO: 'off' } : {});
        const isDiskFull = (error: unknown): boolean => error instanceof SurgeonError && error.rule === 'io' && error.file === path
          && /the disk is full \(ENOSPC\)/.test(error.message);
        // Direct writes fail when a staged block goes out, which a later write or the close reports.
        await assert.rejects(writeInPieces(file, expected, 8, [MiB, MiB, MiB, MiB - 8]), isDiskFull);
        await file.discard();
        assert.deepEqual(await readdir(folder), ['model.safetensors'], 'the caller removes the file; nothing else was written');
      } finally {
        openMock.mock.restore();
      }
    });
  }
});
