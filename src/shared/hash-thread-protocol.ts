/**
 * Messages between FileHashes (src/engine/io/file-hash.ts) and its hashing threads (src/engine/io/hash-thread.ts,
 * built as dist/hash-thread.js). A thread answers every request once, in the order received.
 */

interface FileRequest {
  path: string;
  /** Read the file around the page cache (see InputFiles). */
  direct: boolean;
}

/**
 * Bytes of the file from `position` that the job has just read into shared memory `memory` (numbered by
 * FileHashes): the thread reads what lies between its cursor and them itself, then hashes them in place.
 */
export interface HashPieceRequest extends FileRequest {
  type: 'piece';
  position: number;
  memory: number;
  /** The memory itself, the first time it is sent to this thread. */
  shared: SharedArrayBuffer | undefined;
  offset: number;
  length: number;
}

/** Hash the rest of the file, to its end, and answer with the digest. */
export interface HashFinishRequest extends FileRequest {
  type: 'finish';
}

export type HashThreadRequest = HashPieceRequest | HashFinishRequest;

/**
 * A piece hashed (`path` alone); the file's end alone (it ended before a piece); or, to `finish`, the
 * file's end, the bytes the thread read of it itself, and its digest.
 */
export interface HashThreadAnswer {
  path: string;
  bytes?: number;
  read?: number;
  sha256?: string;
}

export interface HashThreadFailure {
  path: string;
  error: { message: string; code?: string };
}

export type HashThreadReply = HashThreadAnswer | HashThreadFailure;
