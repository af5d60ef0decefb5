import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SurgeonError } from '../errors';
import { ioError } from './output-file';
import { DIRECT_ALIGNMENT } from './output-writes';

/** Bytes per read of a hashing thread. */
const HASH_READ_BYTES = 4 * 1024 * 1024;

/**
 * The hashing thread's program. It is evaluated from this string rather than loaded from a file so
 * that it runs the same under the CLI bundle, the extension's worker bundle and tsx in tests. It keeps
 * one SHA-256 state and one cursor per file. A `piece` message hands it bytes of the file that the job
 * has just read into shared memory: it reads whatever lies between its cursor and them from the file
 * itself (a header, a tensor the job skips), then hashes them in place, and whatever it hashed already
 * it skips. A `finish` message has it read the rest of the file itself, to its end, and reply with the digest.
 *
 * On Linux the thread lowers its own priority to the least (nice 19; Linux keeps the nice value per
 * thread, other systems per process, so elsewhere it is left alone): the hashing then takes the CPU
 * time the stream leaves idle instead of slowing it, and the editor's processes come first too.
 * On 2 cores a first compute of the 1 GB bench pair took 2.31-2.51 s, against 2.52-2.77 s at normal priority.
 * Files the job reads around the page cache are read that way here too, into page-aligned memory.
 */
const HASH_THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync, constants } = require('node:fs');
const ALIGNMENT = ${DIRECT_ALIGNMENT};
const BUFFER_BYTES = ${HASH_READ_BYTES};
// WebAssembly memory is page-aligned, as O_DIRECT wants; a Buffer is not.
const buffer = new Uint8Array(new WebAssembly.Memory({ initial: BUFFER_BYTES / 65536 }).buffer);
if (process.platform === 'linux') {
  try {
    require('node:os').setPriority(19);
  } catch {
    // A sandbox that forbids it only costs speed.
  }
}
const files = new Map();
// Shared memories the job reads into, each sent once: a SharedArrayBuffer received per message costs memory here.
const memories = [];
function openDirect(path) {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch (error) {
    if (error.code === 'EINVAL') return undefined;
    throw error;
  }
}
function fileOf({ path, direct }) {
  let file = files.get(path);
  if (!file) {
    file = { path, hash: createHash('sha256'), cursor: 0, read: 0, sequential: false, fd: undefined, directFd: undefined };
    files.set(path, file);
    if (direct && constants.O_DIRECT !== undefined) file.directFd = openDirect(path);
  }
  return file;
}
function close(file) {
  files.delete(file.path);
  if (file.directFd !== undefined) closeSync(file.directFd);
  if (file.fd !== undefined) closeSync(file.fd);
}
// Up to want bytes of the file from position, in the buffer; none at the end of the file.
function readAt(file, position, want) {
  if (file.directFd !== undefined) {
    const head = position % ALIGNMENT;
    const span = Math.min(BUFFER_BYTES, Math.ceil((head + want) / ALIGNMENT) * ALIGNMENT);
    try {
      const read = readSync(file.directFd, buffer, 0, span, position - head);
      return buffer.subarray(Math.min(head, read), Math.min(read, head + want));
    } catch (error) {
      // Refused: the rest of the file goes through the cache.
      if (error.code !== 'EINVAL') throw error;
      closeSync(file.directFd);
      file.directFd = undefined;
    }
  }
  file.fd ??= openSync(file.path, 'r');
  const read = readSync(file.fd, buffer, 0, Math.min(BUFFER_BYTES, want), file.sequential ? null : position);
  return buffer.subarray(0, read);
}
// Hashes the file from the cursor up to end; false when the file ends first.
function catchUp(file, end) {
  while (file.cursor < end) {
    const bytes = readAt(file, file.cursor, end - file.cursor);
    if (bytes.length === 0) return false;
    file.hash.update(bytes);
    file.cursor += bytes.length;
    file.read += bytes.length;
  }
  return true;
}
parentPort.on('message', (message) => {
  let file;
  try {
    file = fileOf(message);
    if (message.type === 'piece') {
      const { position, memory, offset, length } = message;
      if (message.shared) memories[memory] = message.shared;
      if (!catchUp(file, position)) {
        parentPort.postMessage({ path: file.path, bytes: file.cursor });
        return close(file);
      }
      const skip = file.cursor - position;
      if (skip < length) {
        file.hash.update(new Uint8Array(memories[memory], offset + skip, length - skip));
        file.cursor = position + length;
      }
      parentPort.postMessage({ path: file.path });
      return;
    }
    // A file nothing was read of yet is read front to back without positions: that needs no seekable file.
    file.sequential = file.cursor === 0 && file.directFd === undefined;
    catchUp(file, Infinity);
    parentPort.postMessage({ path: file.path, bytes: file.cursor, read: file.read, sha256: file.hash.digest('hex') });
    close(file);
  } catch (error) {
    parentPort.postMessage({ path: message.path, error: { message: error.message, code: error.code } });
    if (file) close(file);
  }
});
`;

/**
 * What the hashing thread answers: a piece hashed; the file's end alone (it ended before a piece);
 * the file's end, the bytes the thread read of it itself, and its digest.
 */
interface HashThreadAnswer {
  path: string;
  bytes?: number;
  read?: number;
  sha256?: string;
}

type HashThreadReply = HashThreadAnswer | { path: string; error: { message: string; code?: string } };

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
  stop(error: unknown = new SurgeonError('cancelled', 'the hashing was stopped')): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.signal?.removeEventListener('abort', this.onAbort);
    for (const thread of this.threads) {
      void thread.worker.terminate();
      for (const waiting of thread.waiting.splice(0)) waiting.reject(error);
    }
  }

  private readonly onAbort = (): void => this.stop(new SurgeonError('cancelled', 'the job was cancelled'));

  private startThread(): HashThread {
    // A thread allocates only its messages: the smallest young generation saved 4-6 MB of peak RSS on a first compute of the 2 GB bench pair.
    const worker = new Worker(HASH_THREAD_SOURCE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 1 } });
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

  private post(thread: HashThread, message: Record<string, unknown>): Promise<HashThreadAnswer> {
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
