import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, open, readFile, readdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SurgeonError, isSurgeonError } from '../errors';

/**
 * An output folder that appears complete or not at all: jobs write into a hidden temporary
 * folder beside the target, and `commit` renames it into place (same parent, so same file
 * system, so the rename is atomic). A lock file beside it refuses a second job on the same target.
 */
export interface AtomicOutput {
  /** The final path. */
  readonly target: string;
  /** The temporary folder to write into: `.<base>.partial-<random>` in the target's parent. */
  readonly dir: string;
  /** Flushes the files to disk, then moves the folder into place (replacing the old target when overwriting). */
  commit(): Promise<void>;
  /** Removes the temporary folder and releases the lock; safe to call more than once, and after commit. */
  abort(): Promise<void>;
}

export interface AtomicOutputOptions {
  /** Replace an existing non-empty target; otherwise it is refused (rule `output-exists`). */
  overwrite?: boolean;
}

interface LockRecord {
  pid: number;
  createdAt: string;
}

export async function createAtomicOutput(target: string, options: AtomicOutputOptions = {}): Promise<AtomicOutput> {
  const finalPath = resolve(target);
  const parent = dirname(finalPath);
  const base = basename(finalPath);
  await mkdir(parent, { recursive: true }).catch((error: Error) => {
    throw new SurgeonError('io', `cannot create the output's parent folder: ${error.message}`, parent);
  });
  const lockPath = join(parent, `.${base}.lock`);
  await acquireLock(lockPath, finalPath);
  let dir: string;
  try {
    await refuseExistingOutput(finalPath, options.overwrite === true);
    dir = await mkdtemp(join(parent, `.${base}.partial-`));
  } catch (error) {
    await unlink(lockPath).catch(() => undefined);
    throw asSurgeonError(error, finalPath);
  }
  let state: 'open' | 'committed' | 'aborted' = 'open';
  return {
    target: finalPath,
    dir,
    async commit() {
      if (state !== 'open') throw new SurgeonError('usage', `the output was already ${state}`, finalPath);
      try {
        await syncTree(dir);
        await refuseExistingOutput(finalPath, options.overwrite === true);
        await moveIntoPlace(dir, finalPath);
        await syncFolder(parent);
      } catch (error) {
        throw asSurgeonError(error, finalPath);
      }
      state = 'committed';
      await unlink(lockPath).catch(() => undefined);
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await rm(dir, { recursive: true, force: true });
      await unlink(lockPath).catch(() => undefined);
    },
  };
}

async function acquireLock(lockPath: string, target: string): Promise<void> {
  const record: LockRecord = { pid: process.pid, createdAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(JSON.stringify(record));
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw asSurgeonError(error, target);
    }
    const holder = await readLock(lockPath);
    if (holder === 'unreadable' || (holder !== 'gone' && isProcessAlive(holder.pid))) {
      const who = holder === 'unreadable' ? 'another job' : `another job (process ${holder.pid}, since ${holder.createdAt})`;
      throw new SurgeonError('output-busy', `${who} is writing this output; if it is gone, delete ${lockPath}`, target);
    }
    // The holder died without cleaning up (or just finished): the lock is stale, take it over.
    if (holder !== 'gone') await unlink(lockPath).catch(() => undefined);
  }
  throw new SurgeonError('output-busy', `another job is writing this output (lock ${lockPath})`, target);
}

async function readLock(lockPath: string): Promise<LockRecord | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'unreadable';
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockRecord>;
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, createdAt: String(parsed.createdAt) } : 'unreadable';
  } catch {
    // A lock being written this instant reads as empty; it counts as held.
    return 'unreadable';
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Refuses (rule `output-exists`) a target that exists and is not an empty folder, unless `overwrite`. */
export async function refuseExistingOutput(target: string, overwrite: boolean): Promise<void> {
  if (overwrite) return;
  const stats = await lstat(target).catch(() => undefined);
  if (stats === undefined) return;
  if (stats.isDirectory() && (await readdir(target)).length === 0) return;
  throw new SurgeonError('output-exists',
    `the output already exists${stats.isDirectory() ? ' and is not empty' : ' (as a file)'}; choose another path or allow overwriting`,
    target);
}

async function moveIntoPlace(dir: string, target: string): Promise<void> {
  const existing = await lstat(target).catch(() => undefined);
  if (existing === undefined) {
    await rename(dir, target);
    return;
  }
  // A folder cannot be renamed over a non-empty one, so the old target steps aside first.
  const aside = join(dirname(target), `.${basename(target)}.old-${randomBytes(4).toString('hex')}`);
  await rename(target, aside);
  try {
    await rename(dir, target);
  } catch (error) {
    await rename(aside, target).catch(() => undefined);
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
}

/** fsync every file, then the folders, so a crash after commit cannot leave renamed but empty files. */
async function syncTree(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      await syncTree(path);
    } else if (entry.isFile()) {
      const handle = await open(path, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }
  await syncFolder(folder);
}

async function syncFolder(folder: string): Promise<void> {
  // Windows cannot open folders for fsync; there the rename is as durable as it gets.
  if (process.platform === 'win32') return;
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function asSurgeonError(error: unknown, target: string): SurgeonError {
  if (isSurgeonError(error)) return error;
  return new SurgeonError('io', (error as Error).message, target);
}
