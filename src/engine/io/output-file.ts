import { open } from 'node:fs/promises';
import { SURGEON_ENV } from '../../shared/environment';
import { SurgeonError } from '../errors';
import { BufferedWrites, openDirectWrites, type OutputWrites } from './output-writes';

/**
 * One output file of known size, written front to back: its header is handed over when it is
 * created and goes out with the first data, so a file the stream has not reached yet holds no
 * staging memory, and the staging of a file is let go as soon as its last byte is written.
 * Writes go around the page cache unless the filesystem refuses O_DIRECT or
 * `CHECKPOINT_SURGEON_DIRECT_IO=off` asks for ordinary writes.
 */
export class OutputFile {
  /** Bytes handed to `write` so far, the header included. */
  private written: number;
  /** Until the first write or the close. */
  private header: Uint8Array | undefined;

  private constructor(readonly path: string, readonly size: number, header: Uint8Array, private readonly writes: OutputWrites) {
    this.header = header;
    this.written = header.byteLength;
  }

  static async create(path: string, header: Uint8Array, size: number, env: NodeJS.ProcessEnv = process.env): Promise<OutputFile> {
    try {
      const wantsDirect = env[SURGEON_ENV.directIo] !== 'off';
      const direct = wantsDirect ? await openDirectWrites(path) : undefined;
      // A refused direct open may have created the file already: it is ours, in the job's own folder.
      const writes = direct ?? new BufferedWrites(await open(path, wantsDirect ? 'w' : 'wx'));
      return new OutputFile(path, size, header, writes);
    } catch (error) {
      throw ioError(path, 'cannot create the output file', error);
    }
  }

  /** Whether the file is written around the page cache. */
  get direct(): boolean {
    return this.writes.direct;
  }

  /**
   * Writes the next bytes of the file; `position` must be where the previous write ended. The
   * caller may reuse `bytes` once the promise resolves.
   */
  write(bytes: Uint8Array, position: number): Promise<void> {
    if (position !== this.written || position + bytes.byteLength > this.size) {
      throw new Error(`${this.path}: ${bytes.byteLength} bytes written at ${position}, but the file is written front to back and ${this.written} of its ${this.size} bytes are written`);
    }
    this.written += bytes.byteLength;
    // Called in order, now: each kind of writes keeps the order of the calls.
    const steps = [this.appendHeader(), this.writes.append(bytes)];
    if (this.written === this.size) steps.push(this.writes.finish());
    return Promise.all(steps).then(() => undefined, (error: unknown) => {
      throw ioError(this.path, 'cannot write the output file', error);
    });
  }

  /** Waits for the writes, syncs and closes; every byte of the file must have been written. */
  async close(): Promise<void> {
    if (this.written !== this.size) {
      await this.discard();
      throw new Error(`${this.path}: closed with ${this.written} of its ${this.size} bytes written`);
    }
    try {
      await this.appendHeader();
      await this.writes.close(this.size);
    } catch (error) {
      throw ioError(this.path, 'cannot sync the output file', error);
    }
  }

  /** Closes without syncing (the job failed; the file is about to be removed). */
  async discard(): Promise<void> {
    await this.writes.discard();
  }

  private appendHeader(): Promise<void> {
    const header = this.header;
    if (!header) return Promise.resolve();
    this.header = undefined;
    return this.writes.append(header);
  }
}

export function ioError(path: string, what: string, error: unknown): SurgeonError {
  if (error instanceof SurgeonError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ENOSPC' ? 'the disk is full'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : error instanceof Error ? error.message : String(error);
  return new SurgeonError('io', `${what}: ${reason}${code ? ` (${code})` : ''}`, path);
}
