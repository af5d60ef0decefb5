import { relative } from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { StreamingFileHash } from '../io/file-hash';
import type { FileProvenance } from '../../shared/jobs';

/** One SHA-256 tracker per input weights file, primed with the bytes before its first tensor. */
export async function hashInputs(checkpoints: readonly Checkpoint[]): Promise<Map<string, StreamingFileHash>> {
  const hashes = new Map<string, StreamingFileHash>();
  for (const file of checkpoints.flatMap((checkpoint) => checkpoint.files)) {
    if (hashes.has(file.path)) continue;
    const hash = new StreamingFileHash(file.path, file.size);
    await hash.feedPrefix(file.header.dataStart);
    hashes.set(file.path, hash);
  }
  return hashes;
}

/** The provenance of each checkpoint's files, paths relative to its root. */
export async function finishHashes<T extends readonly Checkpoint[]>(
  hashes: Map<string, StreamingFileHash>, checkpoints: T,
): Promise<{ [K in keyof T]: FileProvenance[] }> {
  const digests = new Map<string, Promise<{ sha256: string }>>();
  for (const [path, hash] of hashes) digests.set(path, hash.finish());
  const provenance = await Promise.all(checkpoints.map((checkpoint) => Promise.all(checkpoint.files.map(async (file) => ({
    file: relative(checkpoint.root, file.path) || file.name,
    bytes: file.size,
    sha256: (await digests.get(file.path)!).sha256,
  })))));
  return provenance as { [K in keyof T]: FileProvenance[] };
}
