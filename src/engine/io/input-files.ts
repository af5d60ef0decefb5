import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { SURGEON_ENV } from '../../shared/environment';
import { SurgeonError } from '../errors';
import type { KernelBuffer } from '../kernels/kernels';
import { ioError } from './output-file';
import { DIRECT_ALIGNMENT } from './output-writes';
import { mostlyUncachedFiles } from './page-cache';

/**
 * Bytes a read target needs beyond the data it is to hold, so that a direct read fits: up to one block to
 * reach an aligned address, one because the data starts inside a block, one because it ends inside one.
 */
export const INPUT_READ_SLACK = 3 * DIRECT_ALIGNMENT;

/**
 * How inputs are read: `auto` reads the files that are mostly not in the page cache around it and the
 * others through it, `cached` reads all through the cache, `direct` reads all around it.
 * `CHECKPOINT_SURGEON_DIRECT_IO=off` means `cached` (it turns off direct writes too), `=always` means `direct`.
 */
export type InputReadMode = 'auto' | 'cached' | 'direct';

export function inputReadMode(env: NodeJS.ProcessEnv = process.env): InputReadMode {
  const setting = env[SURGEON_ENV.directIo];
  return setting === 'off' ? 'cached' : setting === 'always' ? 'direct' : 'auto';
}

/** The files among `paths` to read around the page cache. */
export async function directReadPaths(paths: Iterable<string>, mode: InputReadMode = inputReadMode()): Promise<Set<string>> {
  const unique = [...new Set(paths)];
  if (constants.O_DIRECT === undefined || mode === 'cached') return new Set();
  return mode === 'direct' ? new Set(unique) : mostlyUncachedFiles(unique);
}

/**
 * The input files of one job, each opened once. A file read around the page cache is read in whole
 * aligned blocks into the aligned part of the target, and its data handed back as a view inside it:
 * no copy, and no page-cache pages to allocate. Where the system or the filesystem refuses O_DIRECT,
 * or a direct read is refused (a target whose address cannot be aligned, under the plain-JS kernels),
 * that file is read through the cache from then on.
 */
export class InputFiles {
  private readonly cachedHandles = new Map<string, Promise<FileHandle>>();
  private readonly directHandles = new Map<string, Promise<FileHandle | undefined>>();

  private readonly direct: Set<string>;

  /** `directPaths`: the files to read around the page cache (from `directReadPaths`). */
  constructor(directPaths: Iterable<string>) {
    this.direct = new Set(directPaths);
  }

  static async open(paths: Iterable<string>, mode: InputReadMode = inputReadMode()): Promise<InputFiles> {
    return new InputFiles(await directReadPaths(paths, mode));
  }

  /** Whether reads of `path` go around the page cache now. */
  readsDirectly(path: string): boolean {
    return this.direct.has(path);
  }

  /**
   * Reads `length` bytes of `path` from `position` into `target` and returns the part of `target` that
   * starts with them and runs to its end. For direct reads `target` must hold INPUT_READ_SLACK bytes
   * more than `length`. A file that ends early is an `input-changed` error naming `tensor`.
   */
  async read(path: string, tensor: string, target: KernelBuffer, position: number, length: number): Promise<KernelBuffer> {
    try {
      if (this.direct.has(path)) {
        const view = await this.readDirect(path, tensor, target, position, length);
        if (view) return view;
      }
      await readFully(await this.cachedHandle(path), target.bytes, 0, length, position, path, tensor);
      return target;
    } catch (error) {
      if (error instanceof SurgeonError) throw error;
      throw ioError(path, `cannot read tensor ${JSON.stringify(tensor)}`, error);
    }
  }

  async closeAll(): Promise<void> {
    const handles = [...this.cachedHandles.values(), ...this.directHandles.values()];
    this.cachedHandles.clear();
    this.directHandles.clear();
    await Promise.allSettled(handles.map(async (handle) => (await handle)?.close()));
  }

  /** The data's view, or undefined when the file turned out not to take direct reads. */
  private async readDirect(path: string, tensor: string, target: KernelBuffer, position: number, length: number): Promise<KernelBuffer | undefined> {
    const handle = await this.directHandle(path);
    if (!handle) return undefined;
    const blockStart = position - (position % DIRECT_ALIGNMENT);
    const head = position - blockStart;
    const needed = head + length;
    const span = Math.ceil(needed / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
    const aligned = target.view((DIRECT_ALIGNMENT - (target.bytes.byteOffset % DIRECT_ALIGNMENT)) % DIRECT_ALIGNMENT);
    if (aligned.byteLength < span) throw new Error(`a read target of ${target.byteLength} bytes is too small for a direct read of ${length}`);
    let got: number;
    try {
      ({ bytesRead: got } = await handle.read(aligned.bytes, 0, span, blockStart));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
      this.direct.delete(path);
      return undefined;
    }
    // Short only at the end of the file, or on a filesystem that splits reads: the rest comes through the cache.
    if (got < needed) await readFully(await this.cachedHandle(path), aligned.bytes, got, needed - got, blockStart + got, path, tensor);
    return aligned.view(head);
  }

  private cachedHandle(path: string): Promise<FileHandle> {
    let handle = this.cachedHandles.get(path);
    if (!handle) {
      handle = open(path, 'r').catch((error: unknown) => {
        throw ioError(path, 'cannot open the input file', error);
      });
      this.cachedHandles.set(path, handle);
    }
    return handle;
  }

  private directHandle(path: string): Promise<FileHandle | undefined> {
    let handle = this.directHandles.get(path);
    if (!handle) {
      handle = open(path, constants.O_RDONLY | constants.O_DIRECT).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'EINVAL') {
          this.direct.delete(path);
          return undefined;
        }
        throw ioError(path, 'cannot open the input file', error);
      });
      this.directHandles.set(path, handle);
    }
    return handle;
  }
}

async function readFully(handle: FileHandle, bytes: Uint8Array, offset: number, length: number, position: number, path: string, tensor: string): Promise<void> {
  for (let done = 0; done < length;) {
    const { bytesRead } = await handle.read(bytes, offset + done, length - done, position + done);
    if (bytesRead === 0) {
      throw new SurgeonError('input-changed', `the file ended at ${position + done} bytes while reading the tensor; it changed after the dry run`, path, tensor);
    }
    done += bytesRead;
  }
}
