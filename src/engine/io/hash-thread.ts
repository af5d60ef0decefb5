/**
 * A hashing thread of FileHashes (file-hash.ts), built as dist/hash-thread.js. It keeps one SHA-256 state
 * and one cursor per file. A `piece` hands it bytes of the file that the job has just read into shared
 * memory: it reads whatever lies between its cursor and them from the file itself (a header, a tensor the
 * job skips), then hashes them in place, and whatever it hashed already it skips. A `finish` has it read
 * the rest of the file itself, to its end, and reply with the digest.
 *
 * On Linux the thread lowers its own priority to the least (nice 19; Linux keeps the nice value per
 * thread, other systems per process, so elsewhere it is left alone): the hashing then takes the CPU
 * time the stream leaves idle instead of slowing it, and the editor's processes come first too.
 * On 2 cores a first compute of the 1 GB bench pair took 2.31-2.51 s, against 2.52-2.77 s at normal priority.
 * Files the job reads around the page cache are read that way here too, into page-aligned memory.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, type MessagePort } from 'node:worker_threads';
import type { HashThreadReply, HashThreadRequest } from '../../shared/hash-thread-protocol';
import { DIRECT_ALIGNMENT } from './output-writes';

/** Bytes per read of a hashing thread. */
const BUFFER_BYTES = 4 * 1024 * 1024;

interface HashedFile {
  path: string;
  hash: Hash;
  /** Bytes hashed so far, from the start of the file. */
  cursor: number;
  /** Bytes the thread read of the file itself. */
  read: number;
  /** Read front to back without positions. */
  sequential: boolean;
  fd: number | undefined;
  directFd: number | undefined;
}

if (parentPort === null) throw new Error('the hashing thread must be started as a worker thread');
const port: MessagePort = parentPort;

// WebAssembly memory is page-aligned, as O_DIRECT wants; a Buffer is not.
const buffer = new Uint8Array(new WebAssembly.Memory({ initial: BUFFER_BYTES / 65536 }).buffer);
if (process.platform === 'linux') {
  try {
    setPriority(19);
  } catch {
    // A sandbox that forbids it only costs speed.
  }
}
const files = new Map<string, HashedFile>();
// Shared memories the job reads into, each sent once: a SharedArrayBuffer received per message costs memory here.
const memories: SharedArrayBuffer[] = [];

function openDirect(path: string): number | undefined {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw error;
  }
}

function fileOf({ path, direct }: HashThreadRequest): HashedFile {
  let file = files.get(path);
  if (!file) {
    file = { path, hash: createHash('sha256'), cursor: 0, read: 0, sequential: false, fd: undefined, directFd: undefined };
    files.set(path, file);
    if (direct && constants.O_DIRECT !== undefined) file.directFd = openDirect(path);
  }
  return file;
}

function close(file: HashedFile): void {
  files.delete(file.path);
  if (file.directFd !== undefined) closeSync(file.directFd);
  if (file.fd !== undefined) closeSync(file.fd);
}

/** Up to `want` bytes of the file from `position`, in the buffer; none at the end of the file. */
function readAt(file: HashedFile, position: number, want: number): Uint8Array {
  if (file.directFd !== undefined) {
    const head = position % DIRECT_ALIGNMENT;
    const span = Math.min(BUFFER_BYTES, Math.ceil((head + want) / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT);
    try {
      const read = readSync(file.directFd, buffer, 0, span, position - head);
      return buffer.subarray(Math.min(head, read), Math.min(read, head + want));
    } catch (error) {
      // Refused: the rest of the file goes through the cache.
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
      closeSync(file.directFd);
      file.directFd = undefined;
    }
  }
  file.fd ??= openSync(file.path, 'r');
  const read = readSync(file.fd, buffer, 0, Math.min(BUFFER_BYTES, want), file.sequential ? null : position);
  return buffer.subarray(0, read);
}

/** Hashes the file from the cursor up to `end`; false when the file ends first. */
function catchUp(file: HashedFile, end: number): boolean {
  while (file.cursor < end) {
    const bytes = readAt(file, file.cursor, end - file.cursor);
    if (bytes.length === 0) return false;
    file.hash.update(bytes);
    file.cursor += bytes.length;
    file.read += bytes.length;
  }
  return true;
}

function reply(message: HashThreadReply): void {
  port.postMessage(message);
}

port.on('message', (message: HashThreadRequest) => {
  let file: HashedFile | undefined;
  try {
    file = fileOf(message);
    if (message.type === 'piece') {
      const { position, memory, offset, length } = message;
      if (message.shared) memories[memory] = message.shared;
      if (!catchUp(file, position)) {
        reply({ path: file.path, bytes: file.cursor });
        close(file);
        return;
      }
      const skip = file.cursor - position;
      if (skip < length) {
        file.hash.update(new Uint8Array(memories[memory]!, offset + skip, length - skip));
        file.cursor = position + length;
      }
      reply({ path: file.path });
      return;
    }
    // A file nothing was read of yet is read front to back without positions: that needs no seekable file.
    file.sequential = file.cursor === 0 && file.directFd === undefined;
    catchUp(file, Infinity);
    reply({ path: file.path, bytes: file.cursor, read: file.read, sha256: file.hash.digest('hex') });
    close(file);
  } catch (error) {
    const { message: text, code } = error as NodeJS.ErrnoException;
    reply({ path: message.path, error: { message: text, code } });
    if (file) close(file);
  }
});
