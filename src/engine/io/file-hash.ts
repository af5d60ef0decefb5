import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SurgeonError } from '../errors';
import { ioError } from './output-file';
import { DIRECT_ALIGNMENT } from './output-writes';

/** Bytes per read of a hashing thread. */
const HASH_READ_BYTES = 4 * 1024 * 1024;

/**
 * The hashing thread's program. It is evaluated from this string rather than loaded from a file so
 * that it runs the same under the CLI bundle, the extension's worker bundle and tsx in tests. It
 * reads the file itself, in large synchronous reads, and never touches the job's buffers: SHA-256
 * is sequential and as costly per byte as the rest of the job together, so it gets its own core.
 *
 * On Linux the thread lowers its own priority to the least (nice 19; Linux keeps the nice value per
 * thread, other systems per process, so elsewhere it is left alone): the hashing then takes the CPU
 * time the stream leaves idle instead of slowing it, and the editor's processes come first too.
 * On 2 cores a first compute of the 1 GB bench pair took 2.31-2.51 s, against 2.52-2.77 s at normal priority.
 * Files the job reads around the page cache are hashed that way too, from page-aligned memory.
 */
const HASH_THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync, constants } = require('node:fs');
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
function openDirect(path) {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch (error) {
    if (error.code === 'EINVAL') return undefined;
    throw error;
  }
}
parentPort.on('message', ({ path, direct }) => {
  let directFd;
  let fd;
  try {
    if (direct && constants.O_DIRECT !== undefined) directFd = openDirect(path);
    const readDirectly = directFd !== undefined;
    const hash = createHash('sha256');
    let bytes = 0;
    for (;;) {
      let read;
      // Direct reads stay aligned while the ones before were whole blocks (all but the last); one refused sends the rest through the cache.
      if (directFd !== undefined && bytes % ${DIRECT_ALIGNMENT} === 0) {
        try {
          read = readSync(directFd, buffer, 0, BUFFER_BYTES, bytes);
        } catch (error) {
          if (error.code !== 'EINVAL') throw error;
          closeSync(directFd);
          directFd = undefined;
        }
      }
      // Without direct reads, sequential ones: they need no seekable file.
      read ??= readSync(fd ??= openSync(path, 'r'), buffer, 0, BUFFER_BYTES, readDirectly ? bytes : null);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
      bytes += read;
    }
    parentPort.postMessage({ path, bytes, sha256: hash.digest('hex') });
  } catch (error) {
    parentPort.postMessage({ path, error: { message: error.message, code: error.code } });
  } finally {
    if (directFd !== undefined) closeSync(directFd);
    if (fd !== undefined) closeSync(fd);
  }
});
`;

type HashThreadReply =
  | { path: string; bytes: number; sha256: string }
  | { path: string; error: { message: string; code?: string } };

export interface FileToHash {
  path: string;
  /** The size the job planned with; a file that hashes to another length changed under the job. */
  size: number;
  /** Read around the page cache (see InputFiles): the file is mostly not in it. */
  direct?: boolean;
}

/**
 * SHA-256 of whole files on background threads, the largest files first, at most one thread per
 * core. Resolves with the hex digests by path; a read error or an abort stops every thread.
 */
export function sha256Files(files: readonly FileToHash[], signal?: AbortSignal): Promise<Map<string, string>> {
  const sizes = new Map(files.map((file) => [file.path, file.size]));
  const direct = new Set(files.filter((file) => file.direct).map((file) => file.path));
  const queue = [...sizes.keys()].sort((x, y) => sizes.get(y)! - sizes.get(x)!);
  const digests = new Map<string, string>();
  if (queue.length === 0) return Promise.resolve(digests);
  const threads = Array.from({ length: Math.min(queue.length, availableParallelism()) }, () => new Worker(HASH_THREAD_SOURCE, { eval: true }));

  return new Promise<Map<string, string>>((resolve, reject) => {
    let settled = false;
    const stop = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      for (const thread of threads) void thread.terminate();
      if (error === undefined) resolve(digests);
      else reject(error);
    };
    const onAbort = (): void => stop(new SurgeonError('cancelled', 'the job was cancelled'));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    const next = (thread: Worker): void => {
      const path = queue.shift();
      if (path !== undefined) thread.postMessage({ path, direct: direct.has(path) });
      else if (digests.size === sizes.size) stop();
    };
    for (const thread of threads) {
      thread.on('message', (reply: HashThreadReply) => {
        if ('error' in reply) {
          return stop(ioError(reply.path, 'cannot read the file to hash it', Object.assign(new Error(reply.error.message), { code: reply.error.code })));
        }
        if (reply.bytes !== sizes.get(reply.path)) {
          return stop(new SurgeonError('input-changed', `the file is ${reply.bytes} bytes long now, ${sizes.get(reply.path)} when the job began`, reply.path));
        }
        digests.set(reply.path, reply.sha256);
        next(thread);
      });
      thread.on('error', (error) => stop(error));
      next(thread);
    }
  });
}
