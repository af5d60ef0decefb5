import { open, type FileHandle } from 'node:fs/promises';
import { ioError } from '../io/output-file';
import type { TensorRef } from './checkpoint-types';

/**
 * Bytes [start, start + length) of one tensor's data, read through the page cache. For the plan's small
 * look-ups (a few norm vectors, a few rows, the scales of an FP8 weight), not for streaming: jobs stream
 * through tensor-stream.ts.
 */
export async function readTensorBytes(ref: TensorRef, start = 0, length = ref.byteLength - start): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let handle;
  try {
    handle = await open(ref.file.path, 'r');
    await readTensorRange(handle, ref, start, bytes);
  } finally {
    await handle?.close();
  }
  return bytes;
}

/** Fills `target` with the tensor's bytes from `start`, through an open handle of its file. */
export async function readTensorRange(handle: FileHandle, ref: TensorRef, start: number, target: Uint8Array): Promise<void> {
  try {
    for (let done = 0; done < target.byteLength;) {
      const { bytesRead } = await handle.read(target, done, target.byteLength - done, ref.offset + start + done);
      if (bytesRead === 0) throw new Error(`the file ends before tensor ${JSON.stringify(ref.name)} does`);
      done += bytesRead;
    }
  } catch (error) {
    throw ioError(ref.file.path, 'cannot read the tensor', error);
  }
}
