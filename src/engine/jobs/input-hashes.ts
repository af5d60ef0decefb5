import { relative } from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { DigestCache, identify, type IdentifiedFile } from '../io/digest-cache';
import { sha256Files } from '../io/file-hash';
import { directReadPaths } from '../io/input-files';
import type { FileProvenance } from '../../shared/jobs';

/**
 * The SHA-256 of every input weights file, for provenance. Hashing runs on background threads while
 * the tensors stream (it costs about as much CPU as the job itself), and files hashed before and
 * unchanged since come from the digest cache. Stop it with `stop()` when the job fails.
 */
export class InputHashes {
  private readonly stopper = new AbortController();
  private readonly digests: Promise<Map<string, string>>;
  /** The input files to read around the page cache, asked once for the hashing and the job's stream alike. */
  readonly directReads: Promise<ReadonlySet<string>>;

  private constructor(checkpoints: readonly Checkpoint[], signal: AbortSignal | undefined) {
    const signals = signal ? [signal, this.stopper.signal] : [this.stopper.signal];
    const files = checkpoints.flatMap((checkpoint) => checkpoint.files);
    this.directReads = directReadPaths(files.map((file) => file.path));
    this.digests = hashFiles(files, this.directReads, AbortSignal.any(signals));
    // Awaited by `provenance()`; a job that fails first never asks, and that must not crash the process.
    this.digests.catch(() => undefined);
  }

  static start(checkpoints: readonly Checkpoint[], signal?: AbortSignal): InputHashes {
    return new InputHashes(checkpoints, signal);
  }

  stop(): void {
    this.stopper.abort();
  }

  /** The provenance of each checkpoint's files, paths relative to its root. */
  async provenance<T extends readonly Checkpoint[]>(checkpoints: T): Promise<{ [K in keyof T]: FileProvenance[] }> {
    const digests = await this.digests;
    return checkpoints.map((checkpoint) => checkpoint.files.map((file) => ({
      file: relative(checkpoint.root, file.path) || file.name,
      bytes: file.size,
      sha256: digests.get(file.path)!,
    }))) as { [K in keyof T]: FileProvenance[] };
  }
}

async function hashFiles(
  files: ReadonlyArray<{ path: string; size: number }>, directReads: Promise<ReadonlySet<string>>, signal: AbortSignal,
): Promise<Map<string, string>> {
  const cache = await DigestCache.open();
  const digests = new Map<string, string>();
  const identities = new Map<string, IdentifiedFile>();
  const unknown: Array<{ path: string; size: number }> = [];
  const seen = new Set<string>();
  for (const file of files) {
    if (seen.has(file.path)) continue;
    seen.add(file.path);
    // Taken before hashing: a file written meanwhile gets a new ctime and its entry never matches.
    const identity = await identify(file.path);
    const known = identity && cache.lookup(identity);
    if (known) {
      digests.set(file.path, known);
      continue;
    }
    if (identity) identities.set(file.path, identity);
    unknown.push(file);
  }
  const direct = await directReads;
  for (const [path, sha256] of await sha256Files(unknown.map((file) => ({ ...file, direct: direct.has(file.path) })), signal)) {
    digests.set(path, sha256);
    const identity = identities.get(path);
    if (identity) cache.remember(identity, sha256);
  }
  await cache.save();
  return digests;
}
