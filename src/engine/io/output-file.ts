import { open, type FileHandle } from 'node:fs/promises';
import { SurgeonError } from '../errors';

/**
 * Dirty pages are flushed in the background every this many bytes, so the final sync before
 * the rename is short and the page cache does not fill with one job's output.
 */
const BACKGROUND_SYNC_BYTES = 64 * 1024 * 1024;

/** One output file written at explicit positions, synced behind the writes. */
export class OutputFile {
  private unsyncedBytes = 0;
  private pendingSync: Promise<void> = Promise.resolve();
  bytesWritten = 0;

  private constructor(readonly path: string, private readonly handle: FileHandle) {}

  static async create(path: string): Promise<OutputFile> {
    try {
      return new OutputFile(path, await open(path, 'wx'));
    } catch (error) {
      throw ioError(path, 'cannot create the output file', error);
    }
  }

  async write(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    try {
      while (done < bytes.byteLength) {
        const { bytesWritten } = await this.handle.write(bytes, done, bytes.byteLength - done, position + done);
        done += bytesWritten;
      }
    } catch (error) {
      throw ioError(this.path, 'cannot write the output file', error);
    }
    this.bytesWritten += done;
    this.unsyncedBytes += done;
    if (this.unsyncedBytes >= BACKGROUND_SYNC_BYTES) {
      this.unsyncedBytes = 0;
      const previous = this.pendingSync;
      this.pendingSync = previous.then(() => this.handle.datasync()).catch((error: unknown) => {
        throw ioError(this.path, 'cannot sync the output file', error);
      });
      // Surfaced by close(); a rejected promise nobody awaits yet must not crash the process.
      this.pendingSync.catch(() => undefined);
    }
  }

  /** Waits for the background syncs, syncs the rest and closes. */
  async close(): Promise<void> {
    try {
      await this.pendingSync;
      await this.handle.datasync();
    } catch (error) {
      throw ioError(this.path, 'cannot sync the output file', error);
    } finally {
      await this.handle.close();
    }
  }

  /** Closes without syncing (the job failed; the file is about to be removed). */
  async discard(): Promise<void> {
    await this.pendingSync.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
  }
}

export function ioError(path: string, what: string, error: unknown): SurgeonError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ENOSPC' ? 'the disk is full'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : error instanceof Error ? error.message : String(error);
  return new SurgeonError('io', `${what}: ${reason}${code ? ` (${code})` : ''}`, path);
}
