import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';

/** Pieces read to finish a hash that the streaming pass could not cover. */
const HASH_READ_BYTES = 4 * 1024 * 1024;

/**
 * SHA-256 of one input file, fed by the streaming pass as its pieces go by, so provenance
 * costs no second read. Pieces must arrive in file order; a piece that skips ahead means the
 * job reads this file out of order (a checkpoint laid out differently from its partner), and
 * `finish` then hashes the file again from the start. Bytes the job never reads (the header,
 * tensors it skips) are read at `finish` only.
 */
export class StreamingFileHash {
  private hash: Hash = createHash('sha256');
  private cursor = 0;
  private outOfOrder = false;

  constructor(readonly path: string, readonly size: number) {}

  feed(offset: number, bytes: Uint8Array): void {
    if (this.outOfOrder) return;
    const end = offset + bytes.byteLength;
    if (end <= this.cursor) return; // Read twice (a tied embedding serves two tensors): already hashed.
    if (offset > this.cursor) {
      this.outOfOrder = true;
      return;
    }
    this.hash.update(offset === this.cursor ? bytes : bytes.subarray(this.cursor - offset));
    this.cursor = end;
  }

  /** The hex digest, and how many bytes had to be read for it after the streaming pass. */
  async finish(): Promise<{ sha256: string; extraBytesRead: number }> {
    if (this.outOfOrder) {
      this.hash = createHash('sha256');
      this.cursor = 0;
    }
    const extraBytesRead = this.size - this.cursor;
    if (this.cursor < this.size) await this.hashRange(this.cursor, this.size);
    return { sha256: this.hash.digest('hex'), extraBytesRead };
  }

  /** Hashes the bytes before the first tensor (the header) so data pieces can follow in order. */
  async feedPrefix(end: number): Promise<void> {
    if (this.cursor === 0 && end > 0) await this.hashRange(0, end);
  }

  private async hashRange(start: number, end: number): Promise<void> {
    const handle = await open(this.path, 'r');
    try {
      const buffer = Buffer.allocUnsafe(Math.min(HASH_READ_BYTES, end - start));
      let position = start;
      while (position < end) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.byteLength, end - position), position);
        if (bytesRead === 0) throw new Error(`${this.path}: the file ended at ${position} bytes, expected ${end}`);
        this.hash.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
      this.cursor = end;
    } finally {
      await handle.close();
    }
  }
}

export async function sha256File(path: string, size: number): Promise<string> {
  return (await new StreamingFileHash(path, size).finish()).sha256;
}
