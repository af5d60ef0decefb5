import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import { readTensorRange } from '../checkpoint/read-tensor-bytes';
import { cancelledError, SurgeonError } from '../errors';
import { ioError } from '../io/output-file';

/** The first bytes of every tensor are compared before any tensor is read whole: fine-tunes differ early. */
const PROBE_BYTES = 64 * 1024;
const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Refuses base = instruct: the same files (one path, a link to it, a hard link), or a copy with the
 * same bytes. The content is compared only when the two headers list the same tensors with the same
 * dtypes and shapes, and the comparison stops at the first differing byte, so only identical models
 * (the refusal) are read whole.
 */
export async function refuseSameModel(base: Checkpoint, instruct: Checkpoint, signal?: AbortSignal): Promise<void> {
  const check = 'check --base and --instruct: a residual of a model against itself is all zeros';
  if (await sameFiles(base, instruct)) {
    throw new SurgeonError('same-model', `base and instruct are the same files (${describeFiles(base)}); ${check}`, instruct.root);
  }
  if (!sameTensorLayout(base, instruct)) return;
  if (await sameTensorBytes(base, instruct, signal)) {
    const bytes = [...instruct.tensors.values()].reduce((sum, ref) => sum + ref.byteLength, 0);
    throw new SurgeonError('same-model',
      `the instruct model is a byte-identical copy of the base ${base.root} (all ${instruct.tensors.size} tensors, ${bytes} bytes, compared); ${check}`,
      instruct.root);
  }
}

/** Every weights file of one is a weights file of the other, by real path or by device and inode. */
async function sameFiles(base: Checkpoint, instruct: Checkpoint): Promise<boolean> {
  if (base.files.length !== instruct.files.length) return false;
  const [baseIds, instructIds] = await Promise.all([fileIdentities(base), fileIdentities(instruct)]);
  return instructIds.every((id) => baseIds.some((other) => other.path === id.path || (id.inode !== 0 && other.device === id.device && other.inode === id.inode)));
}

async function fileIdentities(checkpoint: Checkpoint): Promise<Array<{ path: string; device: number; inode: number }>> {
  return Promise.all(checkpoint.files.map(async (file) => {
    try {
      const [path, stats] = await Promise.all([realpath(file.path), stat(file.path)]);
      return { path, device: stats.dev, inode: stats.ino };
    } catch (error) {
      throw ioError(file.path, 'cannot read the file', error);
    }
  }));
}

function describeFiles(checkpoint: Checkpoint): string {
  const names = checkpoint.files.map((file) => file.name);
  return names.length <= 2 ? names.join(', ') : `${names.length} shards`;
}

function sameTensorLayout(base: Checkpoint, instruct: Checkpoint): boolean {
  if (base.tensors.size !== instruct.tensors.size) return false;
  for (const [name, ref] of instruct.tensors) {
    const other = base.tensors.get(name);
    if (!other || other.dtype !== ref.dtype || other.byteLength !== ref.byteLength
      || other.shape.length !== ref.shape.length || other.shape.some((dimension, index) => dimension !== ref.shape[index])) return false;
  }
  return true;
}

async function sameTensorBytes(base: Checkpoint, instruct: Checkpoint, signal: AbortSignal | undefined): Promise<boolean> {
  const reader = new ChunkReader();
  try {
    const pairs = [...instruct.tensors.values()].map((ref) => [base.tensors.get(ref.name)!, ref] as const);
    for (const [a, b] of pairs) {
      if (!(await sameRange(reader, a, b, 0, Math.min(PROBE_BYTES, b.byteLength), signal))) return false;
    }
    for (const [a, b] of pairs) {
      if (!(await sameRange(reader, a, b, Math.min(PROBE_BYTES, b.byteLength), b.byteLength, signal))) return false;
    }
    return true;
  } finally {
    await reader.close();
  }
}

async function sameRange(reader: ChunkReader, a: TensorRef, b: TensorRef, start: number, end: number, signal: AbortSignal | undefined): Promise<boolean> {
  for (let position = start; position < end; position += CHUNK_BYTES) {
    if (signal?.aborted) throw cancelledError();
    const length = Math.min(CHUNK_BYTES, end - position);
    const [bytesA, bytesB] = await Promise.all([reader.read(a, position, length, 0), reader.read(b, position, length, 1)]);
    if (!bytesA.equals(bytesB)) return false;
  }
  return true;
}

/** Reads pieces of tensors through one handle per file and two reusable buffers (one per side). */
class ChunkReader {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private readonly buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)] as const;

  async read(ref: TensorRef, start: number, length: number, side: 0 | 1): Promise<Buffer> {
    const path = ref.file.path;
    let handle = this.handles.get(path);
    if (!handle) {
      handle = open(path, 'r');
      this.handles.set(path, handle);
    }
    const target = this.buffers[side].subarray(0, length);
    let file: FileHandle;
    try {
      file = await handle;
    } catch (error) {
      throw ioError(path, 'cannot read the tensor', error);
    }
    await readTensorRange(file, ref, start, target);
    return target;
  }

  async close(): Promise<void> {
    const handles = await Promise.allSettled(this.handles.values());
    await Promise.all(handles.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value.close() : undefined)));
  }
}
