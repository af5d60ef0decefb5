import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * How an output file's bytes reach the disk, appended front to back: around the page cache
 * (`DirectWrites`, the default) or through it (`BufferedWrites`).
 */
export interface OutputWrites {
  readonly direct: boolean;
  /** Writes the file's next bytes; the caller may reuse `bytes` once this resolves. */
  append(bytes: Uint8Array): Promise<void>;
  /** After the last append: waits until everything is in the file, and lets go of any staging memory. */
  finish(): Promise<void>;
  /** Finishes, gives the file its final `size`, syncs and closes. */
  close(size: number): Promise<void>;
  /** Closes without syncing (the job failed; the file is about to be removed). */
  discard(): Promise<void>;
}

/**
 * O_DIRECT needs the memory address, the file position and the length of every write aligned to the
 * device's logical block; 4 KiB covers 512-byte and 4K-native disks.
 */
export const DIRECT_ALIGNMENT = 4096;
const DIRECT_BLOCK_BYTES = 1024 * 1024;
const DIRECT_BLOCKS = 4;
const WASM_PAGE_BYTES = 65536;

/**
 * Opens `path` for direct writes, or resolves `undefined` when the system or the filesystem refuses O_DIRECT.
 * The refused open may already have created the file, which the caller then opens again.
 */
export async function openDirectWrites(path: string): Promise<DirectWrites | undefined> {
  // Linux only: macOS and Windows have no O_DIRECT flag for open().
  if (constants.O_DIRECT === undefined) return undefined;
  try {
    const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o666);
    return new DirectWrites(path, handle);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw error;
  }
}

/**
 * Writes around the page cache: appended bytes are gathered into aligned 1 MiB blocks, each written
 * from there as soon as it is full, a few in flight; the last block is padded to the alignment and
 * the file cut back to size at the end. A job's output never fills the page cache, so it does not
 * push the input models out of it, costs no copy into the cache and no page allocations (which are
 * slow on virtual machines that hand free memory back to the host), and leaves no dirty pages to
 * sync. A filesystem that accepts O_DIRECT but refuses a write gets that write and all later ones
 * through a second, ordinary handle.
 */
export class DirectWrites implements OutputWrites {
  readonly direct = true;
  /** DIRECT_BLOCKS blocks of DIRECT_BLOCK_BYTES, allocated at the first append, dropped by finish(). */
  private blocks: Uint8Array | undefined;
  private readonly writing: Array<Promise<void>> = Array.from({ length: DIRECT_BLOCKS }, () => Promise.resolve());
  private current = 0;
  private filled = 0;
  /** File position of the current block's first byte. */
  private position = 0;
  private ordinary: Promise<FileHandle> | undefined;

  /** Appends and finish() run one after another, in call order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly path: string, private readonly handle: FileHandle) {}

  append(bytes: Uint8Array): Promise<void> {
    return this.inOrder(() => this.stage(bytes));
  }

  finish(): Promise<void> {
    return this.inOrder(() => this.writeRest());
  }

  private inOrder(step: () => Promise<void>): Promise<void> {
    // A failed step fails every later one with its error.
    const run = this.queue.then(step);
    this.queue = run;
    run.catch(() => undefined);
    return run;
  }

  private async stage(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      if (this.filled === 0) await this.writing[this.current];
      // WebAssembly memory is page-aligned, which a Buffer is not.
      this.blocks ??= new Uint8Array(new WebAssembly.Memory({ initial: (DIRECT_BLOCKS * DIRECT_BLOCK_BYTES) / WASM_PAGE_BYTES }).buffer);
      const take = Math.min(DIRECT_BLOCK_BYTES - this.filled, bytes.byteLength - done);
      this.blocks.set(bytes.subarray(done, done + take), this.current * DIRECT_BLOCK_BYTES + this.filled);
      this.filled += take;
      done += take;
      if (this.filled === DIRECT_BLOCK_BYTES) this.writeBlock(DIRECT_BLOCK_BYTES);
    }
  }

  private async writeRest(): Promise<void> {
    if (this.filled > 0) {
      const padded = Math.ceil(this.filled / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
      const start = this.current * DIRECT_BLOCK_BYTES;
      this.blocks!.fill(0, start + this.filled, start + padded);
      this.writeBlock(padded);
    }
    await Promise.all(this.writing);
    this.blocks = undefined;
  }

  async close(size: number): Promise<void> {
    try {
      await this.finish();
      if (size % DIRECT_ALIGNMENT !== 0) await this.handle.truncate(size);
      await this.handle.datasync();
    } finally {
      await this.closeHandles();
    }
  }

  async discard(): Promise<void> {
    await this.queue.catch(() => undefined);
    await Promise.allSettled(this.writing);
    await this.closeHandles().catch(() => undefined);
  }

  private writeBlock(length: number): void {
    const start = this.current * DIRECT_BLOCK_BYTES;
    const written = this.writeAt(this.blocks!.subarray(start, start + length), this.position);
    // Awaited before the block is refilled, or by finish(); until then a failure must not go unhandled.
    written.catch(() => undefined);
    this.writing[this.current] = written;
    this.position += length;
    this.current = (this.current + 1) % DIRECT_BLOCKS;
    this.filled = 0;
  }

  private async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    if (!this.ordinary) {
      try {
        return await writeFully(this.handle, bytes, position);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
        // Several blocks in flight may be refused together; they share one ordinary handle.
        this.ordinary ??= open(this.path, 'r+');
      }
    }
    await writeFully(await this.ordinary, bytes, position);
  }

  private async closeHandles(): Promise<void> {
    const ordinary = this.ordinary;
    this.ordinary = undefined;
    await Promise.all([this.handle.close(), ordinary?.then((handle) => handle.close())]);
  }
}

/**
 * Dirty pages are flushed in the background every this many bytes, so the final sync before
 * the rename is short and the page cache does not fill with one job's output.
 */
const BACKGROUND_SYNC_BYTES = 64 * 1024 * 1024;

/** Writes through the page cache, several at once, synced behind the writes. */
export class BufferedWrites implements OutputWrites {
  readonly direct = false;
  private position = 0;
  private readonly writing = new Set<Promise<void>>();
  private unsyncedBytes = 0;
  private pendingSync: Promise<void> = Promise.resolve();

  constructor(private readonly handle: FileHandle) {}

  async append(bytes: Uint8Array): Promise<void> {
    const written = writeFully(this.handle, bytes, this.position);
    this.position += bytes.byteLength;
    this.writing.add(written);
    try {
      await written;
    } finally {
      this.writing.delete(written);
    }
    this.unsyncedBytes += bytes.byteLength;
    if (this.unsyncedBytes >= BACKGROUND_SYNC_BYTES) {
      this.unsyncedBytes = 0;
      this.pendingSync = this.pendingSync.then(() => this.handle.datasync());
      // Surfaced by finish(); a rejected promise nobody awaits yet must not crash the process.
      this.pendingSync.catch(() => undefined);
    }
  }

  async finish(): Promise<void> {
    await Promise.all(this.writing);
    await this.pendingSync;
  }

  async close(): Promise<void> {
    try {
      await this.finish();
      await this.handle.datasync();
    } finally {
      await this.handle.close();
    }
  }

  async discard(): Promise<void> {
    await Promise.allSettled([...this.writing, this.pendingSync]);
    await this.handle.close().catch(() => undefined);
  }
}

async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.byteLength;) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
    done += bytesWritten;
  }
}
