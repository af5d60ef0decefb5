import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as Esbuild from 'esbuild';
import type { HashThreadAnswer, HashThreadReply, HashThreadRequest } from '../../shared/hash-thread-protocol';
import { cancelledError, SurgeonError } from '../errors';
import { ioError } from './output-file';

/**
 * The hashing thread's program, hash-thread.ts: built as dist/hash-thread.js beside the bundle that holds
 * this module (dist/cli.js, dist/worker.js). Run from source (tsx: tests, scripts), it is bundled here once
 * with the esbuild that tsx runs on: a thread that registered tsx itself took about half a second longer to start.
 */
let hashThread: { program: string; eval: boolean } | undefined;

function hashThreadProgram(): { program: string; eval: boolean } {
  if (hashThread) return hashThread;
  if (!__filename.endsWith('.ts')) return (hashThread = { program: join(__dirname, 'hash-thread.js'), eval: false });
  // Loaded through createRequire so that no bundle takes esbuild in.
  const esbuild = createRequire(__filename)('esbuild') as typeof Esbuild;
  const built = esbuild.buildSync({
    entryPoints: [join(__dirname, 'hash-thread.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent',
  });
  return (hashThread = { program: built.outputFiles[0]!.text, eval: true });
}

export interface FileToHash {
  path: string;
  /** The size the job planned with; a file that hashes to another length changed under the job. */
  size: number;
  /** Read around the page cache (see InputFiles): the file is mostly not in it. */
  direct?: boolean;
}

interface HashThread {
  worker: Worker;
  /** One per message posted, in order: the thread answers each message once, in the order received. */
  waiting: Array<{ resolve(answer: HashThreadAnswer): void; reject(error: unknown): void }>;
  /** Bytes its files have left to hash, as far as is known here: what decides where the next file goes. */
  bytesLeft: number;
  /** The shared memories (by index in `FileHashes.memories`) this thread has been sent. */
  memoriesSent: Set<number>;
}

interface HashedFile extends FileToHash {
  thread?: HashThread;
  /** How far the thread's cursor will be once the pieces posted so far are hashed. */
  covered: number;
  /** The thread's answer to `finish`, once it was asked to hash the rest of the file. */
  finished?: Promise<HashThreadAnswer>;
}

/**
 * SHA-256 of whole files on background threads, at most one per core. Files in the page cache are
 * hashed from it at once, each thread reading its own, alongside the job. Files the job reads around
 * the cache (`direct`) would cost a second read from the disk, so for them `hashFrom` hands the threads
 * the bytes the job has read: the threads read only what the job does not (headers, skipped tensors,
 * anything read out of file order), and the rest when `finish` is called. A read error, a file of
 * another length or an abort stops every thread.
 */
export class FileHashes {
  private readonly files = new Map<string, HashedFile>();
  private readonly threads: HashThread[];
  /** Every shared memory pieces have come from, numbered for the threads. */
  private readonly memories: SharedArrayBuffer[] = [];
  private failure: unknown;
  private readFromFiles = 0;

  private constructor(files: readonly FileToHash[], private readonly signal: AbortSignal | undefined) {
    for (const file of files) if (!this.files.has(file.path)) this.files.set(file.path, { ...file, covered: 0 });
    const count = Math.min(this.files.size, availableParallelism());
    this.threads = Array.from({ length: count }, () => this.startThread());
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
    // Handing over what the job read from the cache saves no disk read and ties the job to the hashing: warm
    // first computes of the 1 GB bench pair took 2.66-3.23 s that way, 2.39-2.45 s with the threads reading the cache.
    this.finishLargestFirst([...this.files.values()].filter((file) => !file.direct));
  }

  static start(files: readonly FileToHash[], signal?: AbortSignal): FileHashes {
    return new FileHashes(files, signal);
  }

  /**
   * Hashes `bytes`, the contents of `path` from `position`, which the caller must leave untouched until
   * the returned promise settles. Undefined when there is nothing to do: the file is not being hashed,
   * or these bytes were already, or they are not in shared memory (then the thread reads them itself).
   */
  hashFrom(path: string, position: number, bytes: Uint8Array): Promise<void> | undefined {
    const file = this.files.get(path);
    const end = position + bytes.byteLength;
    if (!file || this.failure !== undefined || end <= file.covered || !(bytes.buffer instanceof SharedArrayBuffer)) return undefined;
    const thread = file.thread ?? this.assign(file);
    thread.bytesLeft -= end - file.covered;
    file.covered = end;
    let memory = this.memories.indexOf(bytes.buffer);
    if (memory < 0) memory = this.memories.push(bytes.buffer) - 1;
    const shared = thread.memoriesSent.has(memory) ? undefined : bytes.buffer;
    thread.memoriesSent.add(memory);
    return this.post(thread, {
      type: 'piece', path, direct: file.direct === true, position, memory, shared, offset: bytes.byteOffset, length: bytes.byteLength,
    }).then((answer) => {
      if (answer.bytes === undefined) return;
      const error = changedLength(file, answer.bytes);
      this.stop(error);
      throw error;
    });
  }

  /** Hashes what is left of every file and resolves with the hex digests by path; the threads end then. */
  async finish(): Promise<Map<string, string>> {
    this.finishLargestFirst([...this.files.values()]);
    const digests = new Map<string, string>();
    try {
      await Promise.all([...this.files.values()].map(async (file) => {
        const answer = await file.finished!;
        if (answer.bytes !== file.size || answer.sha256 === undefined) throw changedLength(file, answer.bytes ?? 0);
        digests.set(file.path, answer.sha256);
        this.readFromFiles += answer.read ?? 0;
      }));
    } catch (error) {
      this.stop(error);
      throw error;
    }
    this.stop();
    return digests;
  }

  /** Bytes the threads read from the files themselves, once `finish` resolved: all but what `hashFrom` handed them. */
  get bytesReadFromFiles(): number {
    return this.readFromFiles;
  }

  /** Ends every thread; with an error, everything waiting on them fails with it. */
  stop(error: unknown = cancelledError('the hashing')): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.signal?.removeEventListener('abort', this.onAbort);
    for (const thread of this.threads) {
      void thread.worker.terminate();
      for (const waiting of thread.waiting.splice(0)) waiting.reject(error);
    }
  }

  private readonly onAbort = (): void => this.stop(cancelledError());

  private startThread(): HashThread {
    // A thread allocates only its messages: the smallest young generation saved 4-6 MB of peak RSS on a first compute of the 2 GB bench pair.
    const { program, eval: isSource } = hashThreadProgram();
    const worker = new Worker(program, { eval: isSource, resourceLimits: { maxYoungGenerationSizeMb: 1 } });
    const thread: HashThread = { worker, waiting: [], bytesLeft: 0, memoriesSent: new Set() };
    thread.worker.on('message', (reply: HashThreadReply) => {
      if ('error' in reply) {
        return this.stop(ioError(reply.path, 'cannot read the file to hash it', Object.assign(new Error(reply.error.message), { code: reply.error.code })));
      }
      thread.waiting.shift()?.resolve(reply);
    });
    thread.worker.on('error', (error) => this.stop(error));
    return thread;
  }

  /** Has the threads hash the rest of each file not asked yet; files not begun go to the least busy thread, the largest first. */
  private finishLargestFirst(files: readonly HashedFile[]): void {
    for (const file of [...files].filter((file) => !file.finished).sort((x, y) => y.size - x.size)) {
      const thread = file.thread ?? this.assign(file);
      file.covered = file.size;
      file.finished = this.post(thread, { type: 'finish', path: file.path, direct: file.direct === true });
      // Awaited by finish(); an error before then stops everything through stop() and must not go unhandled here.
      file.finished.catch(() => undefined);
    }
  }

  /** Gives the file to the thread with the least left to hash: files streamed side by side land on different threads. */
  private assign(file: HashedFile): HashThread {
    const thread = this.threads.reduce((least, candidate) => (candidate.bytesLeft < least.bytesLeft ? candidate : least));
    thread.bytesLeft += file.size - file.covered;
    file.thread = thread;
    return thread;
  }

  private post(thread: HashThread, message: HashThreadRequest): Promise<HashThreadAnswer> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<HashThreadAnswer>((resolve, reject) => {
      thread.waiting.push({ resolve, reject });
      thread.worker.postMessage(message);
    });
  }
}

function changedLength(file: FileToHash, bytes: number): SurgeonError {
  return new SurgeonError('input-changed', `the file is ${bytes} bytes long now, ${file.size} when the job began`, file.path);
}

/** SHA-256 of whole files on background threads (FileHashes with nothing handed over). */
export function sha256Files(files: readonly FileToHash[], signal?: AbortSignal): Promise<Map<string, string>> {
  return FileHashes.start(files, signal).finish();
}
