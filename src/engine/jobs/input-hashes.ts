import { relative } from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { DigestCache, identify, type IdentifiedFile } from '../io/digest-cache';
import { FileHashes } from '../io/file-hash';
import { directReadPaths } from '../io/input-files';
import type { FileProvenance } from '../../shared/jobs';
import type { InputReading } from './tensor-stream';

interface Hashing {
  cache: DigestCache;
  /** Digests remembered from earlier jobs, by path. */
  known: Map<string, string>;
  /** Identities of the files hashed now, taken before hashing, for the cache. */
  identities: Map<string, IdentifiedFile>;
  hashes: FileHashes;
}

/**
 * The SHA-256 of every input weights file, for provenance, on the hashing threads' own cores. Files in
 * the page cache the threads read from it; of files read around it the job's stream hands them what it
 * reads (`inputReading`), so each is read from disk once. Files hashed before and unchanged since come
 * from the digest cache. Stop it with `stop()` when the job fails.
 */
export class InputHashes {
  private readonly stopper = new AbortController();
  private readonly hashing: Promise<Hashing>;
  /** For the job's stream: which files to read around the page cache (asked once for the hashing and the stream alike), and the hashing. */
  readonly inputReading: Promise<InputReading>;

  private constructor(checkpoints: readonly Checkpoint[], signal: AbortSignal | undefined) {
    const signals = signal ? [signal, this.stopper.signal] : [this.stopper.signal];
    const files = checkpoints.flatMap((checkpoint) => checkpoint.files);
    const direct = directReadPaths(files.map((file) => file.path));
    this.hashing = startHashing(files, direct, AbortSignal.any(signals));
    this.inputReading = Promise.all([direct, this.hashing]).then(([directPaths, { hashes }]) => ({
      direct: directPaths,
      observe: (path, position, bytes) => hashes.hashFrom(path, position, bytes),
    }));
    // Awaited by the stream and `provenance()`; a job that fails first never asks, and that must not crash the process.
    this.inputReading.catch(() => undefined);
  }

  static start(checkpoints: readonly Checkpoint[], signal?: AbortSignal): InputHashes {
    return new InputHashes(checkpoints, signal);
  }

  stop(): void {
    this.stopper.abort();
  }

  /** The provenance of each checkpoint's files, paths relative to its root, once the hashing threads have read the rest of every file. */
  async provenance<T extends readonly Checkpoint[]>(checkpoints: T): Promise<{ [K in keyof T]: FileProvenance[] }> {
    const { cache, known, identities, hashes } = await this.hashing;
    const digests = new Map(known);
    for (const [path, sha256] of await hashes.finish()) {
      digests.set(path, sha256);
      const identity = identities.get(path);
      if (identity) cache.remember(identity, sha256);
    }
    await cache.save();
    return checkpoints.map((checkpoint) => checkpoint.files.map((file) => ({
      file: relative(checkpoint.root, file.path) || file.name,
      bytes: file.size,
      sha256: digests.get(file.path)!,
    }))) as { [K in keyof T]: FileProvenance[] };
  }
}

async function startHashing(
  files: ReadonlyArray<{ path: string; size: number }>, directReads: Promise<ReadonlySet<string>>, signal: AbortSignal,
): Promise<Hashing> {
  const cache = await DigestCache.open();
  const known = new Map<string, string>();
  const identities = new Map<string, IdentifiedFile>();
  const unknown: Array<{ path: string; size: number }> = [];
  const seen = new Set<string>();
  for (const file of files) {
    if (seen.has(file.path)) continue;
    seen.add(file.path);
    // Taken before hashing: a file written meanwhile gets a new ctime and its entry never matches.
    const identity = await identify(file.path);
    const remembered = identity && cache.lookup(identity);
    if (remembered) {
      known.set(file.path, remembered);
      continue;
    }
    if (identity) identities.set(file.path, identity);
    unknown.push(file);
  }
  const direct = await directReads;
  const hashes = FileHashes.start(unknown.map((file) => ({ ...file, direct: direct.has(file.path) })), signal);
  return { cache, known, identities, hashes };
}
