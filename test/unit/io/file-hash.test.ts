/**
 * SHA-256 on background threads, and the cache of digests keyed by file identity: what is computed,
 * what is refused, and when a remembered digest is (not) trusted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SurgeonError } from '../../../src/engine/errors';
import { DigestCache, identify } from '../../../src/engine/io/digest-cache';
import { FileHashes, sha256Files } from '../../../src/engine/io/file-hash';

const scratch = mkdtemp(join(tmpdir(), 'surgeon-hash-'));
after(async () => rm(await scratch, { recursive: true, force: true }));

async function fileOf(name: string, bytes: Buffer): Promise<{ path: string; size: number; sha256: string }> {
  const path = join(await scratch, name);
  await writeFile(path, bytes);
  return { path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

test('sha256Files hashes every file, larger than one read and empty ones too, on background threads', async () => {
  const files = [
    await fileOf('big.bin', randomBytes(9 * 1024 * 1024 + 13)),
    await fileOf('small.bin', randomBytes(100)),
    await fileOf('empty.bin', Buffer.alloc(0)),
  ];
  const digests = await sha256Files([...files, files[1]!]);
  assert.equal(digests.size, 3);
  for (const file of files) assert.equal(digests.get(file.path), file.sha256, file.path);
});

test('files read around the page cache hash the same, whole blocks and the uneven end alike', async () => {
  const files = [
    await fileOf('direct-big.bin', randomBytes(9 * 1024 * 1024 + 13)),
    await fileOf('direct-blocks.bin', randomBytes(8 * 4096)),
    await fileOf('direct-small.bin', randomBytes(100)),
    await fileOf('direct-empty.bin', Buffer.alloc(0)),
  ];
  const digests = await sha256Files(files.map(({ path, size }) => ({ path, size, direct: true })));
  for (const file of files) assert.equal(digests.get(file.path), file.sha256, file.path);
});

/** The file's bytes in shared memory, as a job's stream holds what it read, at an odd offset. */
function sharedCopy(bytes: Buffer): Uint8Array {
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length + 13), 13);
  shared.set(bytes);
  return shared;
}

test('bytes of files read around the page cache are handed over and hashed in place: the threads read only the gaps', async () => {
  const MiB = 1024 * 1024;
  const bytes = randomBytes(6 * MiB + 777);
  const streamed = await fileOf('streamed.bin', bytes);
  const untouched = await fileOf('untouched.bin', randomBytes(3 * MiB + 5));
  {
    const direct = true;
    const shared = sharedCopy(bytes);
    const hashes = FileHashes.start([{ path: streamed.path, size: streamed.size, direct }, { path: untouched.path, size: untouched.size, direct }]);
    const piece = (start: number, end: number): Promise<void> | undefined => hashes.hashFrom(streamed.path, start, shared.subarray(start, end));
    const holds: Array<Promise<void> | undefined> = [];
    // A header of 1000 bytes left for the thread, then pieces in file order, one overlapping the last.
    holds.push(piece(1000, MiB), piece(MiB, 2 * MiB), piece(2 * MiB - 500, 3 * MiB));
    // Already hashed: nothing to do.
    assert.equal(piece(MiB, 2 * MiB), undefined);
    // A jump of 1 MiB the thread reads itself, and the piece it skipped afterwards.
    holds.push(piece(4 * MiB, 5 * MiB));
    assert.equal(piece(3 * MiB, 4 * MiB), undefined);
    // Memory that is not shared is not handed over; the thread reads those bytes at the end.
    assert.equal(hashes.hashFrom(streamed.path, 5 * MiB, Uint8Array.from(bytes.subarray(5 * MiB, 6 * MiB))), undefined);
    assert.ok(holds.every((hold) => hold instanceof Promise));
    await Promise.all(holds);
    const digests = await hashes.finish();
    assert.equal(digests.get(streamed.path), streamed.sha256, `direct ${direct}`);
    assert.equal(digests.get(untouched.path), untouched.sha256, `direct ${direct}`);
    // Read by the threads: the header, the jump over 3-4 MiB, the tail from 5 MiB, and the untouched file.
    assert.equal(hashes.bytesReadFromFiles, 1000 + MiB + (MiB + 777) + untouched.size, `direct ${direct}`);
  }
});

test('files in the page cache are hashed from it at once: nothing is handed over for them', async () => {
  const bytes = randomBytes(2 * 1024 * 1024 + 3);
  const cached = await fileOf('cached.bin', bytes);
  const hashes = FileHashes.start([{ path: cached.path, size: cached.size }]);
  assert.equal(hashes.hashFrom(cached.path, 0, sharedCopy(bytes).subarray(0, 1024 * 1024)), undefined);
  assert.equal((await hashes.finish()).get(cached.path), cached.sha256);
  assert.equal(hashes.bytesReadFromFiles, cached.size);
});

test('a handed-over piece past the end of a file that shrank fails as changed, and so does every later piece', async () => {
  const bytes = randomBytes(3 * 1024 * 1024);
  const file = await fileOf('shrunk.bin', bytes.subarray(0, 1024 * 1024));
  const shared = sharedCopy(bytes);
  const hashes = FileHashes.start([{ path: file.path, size: bytes.length, direct: true }]);
  const isChanged = (error: unknown): boolean => error instanceof SurgeonError && error.rule === 'input-changed' && error.file === file.path
    && /1048576 bytes long now, 3145728 when the job began/.test(error.message);
  await assert.rejects(hashes.hashFrom(file.path, 2 * 1024 * 1024, shared.subarray(2 * 1024 * 1024))!, isChanged);
  await assert.rejects(hashes.finish(), isChanged);
});

/** Opens a FIFO for writing once something has it open for reading, waiting up to a minute. */
async function openOnceRead(fifo: string): Promise<number | undefined> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await delay(10)) {
    try {
      return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
    }
  }
  return undefined;
}

/** The nice value of each of this process's threads (Linux keeps one per thread). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the parenthesised name start at field 3 (state); nice is field 19.
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

// Not where the tests themselves run at nice 19: the hashing thread could not be told from the others.
const niceUnseen = process.platform !== 'linux' || getPriority() === 19;

test('on Linux a hashing thread runs at the lowest priority, nice 19, and the calling thread keeps its own', { skip: niceUnseen }, async () => {
  const ownNice = getPriority();
  const lowest = (): number => threadNiceValues().filter((nice) => nice === 19).length;
  // Threads of earlier hashings end asynchronously after their last reply.
  for (let tries = 0; lowest() > 0 && tries < 1000; tries++) await delay(10);
  assert.equal(lowest(), 0);
  // The thread's open of a FIFO for reading waits for a writer. A non-blocking open for writing
  // succeeds only once a reader is there, so when it does the thread holds the FIFO, and its read
  // waits for the payload: it stays alive while its priority is read, whatever the scheduler does.
  const fifo = join(await scratch, 'held.fifo');
  execFileSync('mkfifo', [fifo]);
  const payload = randomBytes(1000);
  const hashing = sha256Files([{ path: fifo, size: payload.length }]);
  const writer = await openOnceRead(fifo);
  try {
    assert.ok(writer !== undefined, 'the hashing thread never opened the file it was given');
    assert.equal(lowest(), 1, 'one file: one hashing thread, at nice 19');
    assert.equal(getPriority(), ownNice);
  } finally {
    // Without a writer here the thread has not opened the FIFO yet; one opened for reading and
    // writing opens at once and lets a thread already waiting in its open go on.
    const fd = writer ?? openSync(fifo, 'r+');
    writeSync(fd, payload);
    closeSync(fd);
  }
  assert.equal((await hashing).get(fifo), createHash('sha256').update(payload).digest('hex'));
});

test('a file whose length differs from the planned size is refused as changed, naming it', async () => {
  const file = await fileOf('grown.bin', randomBytes(1000));
  await assert.rejects(sha256Files([{ path: file.path, size: 999 }]), (error: unknown) =>
    error instanceof SurgeonError && error.rule === 'input-changed' && error.file === file.path);
});

test('a missing file is an io error naming it; an aborted signal cancels', async () => {
  const missing = join(await scratch, 'missing.bin');
  await assert.rejects(sha256Files([{ path: missing, size: 1 }]), (error: unknown) =>
    error instanceof SurgeonError && error.rule === 'io' && error.file === missing && /ENOENT/.test(error.message));
  const file = await fileOf('cancelled.bin', randomBytes(1000));
  const controller = new AbortController();
  const hashing = sha256Files([{ path: file.path, size: file.size }], controller.signal);
  controller.abort();
  await assert.rejects(hashing, (error: unknown) => error instanceof SurgeonError && error.rule === 'cancelled');
});

test('the digest cache remembers by resolved path and identity, and forgets a rewritten or touched file', async () => {
  const dir = join(await scratch, 'cache');
  const file = await fileOf('weights.bin', randomBytes(4096));
  const link = join(await scratch, 'snapshot-link.bin');
  await symlink(file.path, link);

  const first = await DigestCache.open({ CHECKPOINT_SURGEON_CACHE: dir });
  const identity = (await identify(file.path))!;
  assert.equal(first.lookup(identity), undefined);
  first.remember(identity, file.sha256);
  await first.save();

  const second = await DigestCache.open({ CHECKPOINT_SURGEON_CACHE: dir });
  assert.equal(second.lookup((await identify(link))!), file.sha256, 'a symlink to the same file hits');

  await utimes(file.path, new Date(), new Date(Date.now() - 60_000));
  assert.equal(second.lookup((await identify(file.path))!), undefined, 'touched: not trusted');
  await writeFile(file.path, randomBytes(4096));
  assert.equal(second.lookup((await identify(file.path))!), undefined, 'rewritten: not trusted');
});

test('a damaged cache file starts empty, "off" disables the cache, and neither fails', async () => {
  const dir = join(await scratch, 'damaged');
  const file = await fileOf('other.bin', randomBytes(64));
  const cache = await DigestCache.open({ CHECKPOINT_SURGEON_CACHE: dir });
  cache.remember((await identify(file.path))!, file.sha256);
  await cache.save();
  const stored = join(dir, 'sha256-v1.json');
  assert.match(await readFile(stored, 'utf8'), new RegExp(file.sha256));
  await writeFile(stored, '{"entries": {"x": ');
  const reopened = await DigestCache.open({ CHECKPOINT_SURGEON_CACHE: dir });
  assert.equal(reopened.lookup((await identify(file.path))!), undefined);

  const off = await DigestCache.open({ CHECKPOINT_SURGEON_CACHE: 'off' });
  off.remember((await identify(file.path))!, file.sha256);
  await off.save();
  assert.equal(off.lookup((await identify(file.path))!), file.sha256, 'remembered for this job only');
  assert.equal((await DigestCache.open({ CHECKPOINT_SURGEON_CACHE: 'off' })).lookup((await identify(file.path))!), undefined);
});
