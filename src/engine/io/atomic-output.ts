import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SurgeonError, isSurgeonError } from '../errors';
import { refuseExistingOutput } from './existing-output';
import { acquireOutputLock, outputLockPath } from './output-lock';
import { clearOutputLeftovers } from './output-leftovers';
import { refuseOutputOverlappingInputs, type OutputInputs } from './output-overlap';

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
  /** What interrupted jobs had left beside the target (partial folders, a moved-aside output, a dead job's lock), removed. */
  readonly cleaned: readonly string[];
  /** An earlier output that an interrupted job had moved aside, put back at the target before this job began. */
  readonly restored: string | undefined;
  /** Flushes the files to disk, then moves the folder into place (replacing the old target when overwriting). */
  commit(): Promise<void>;
  /** Removes the temporary folder and releases the lock; safe to call more than once, and after commit. */
  abort(): Promise<void>;
}

export interface AtomicOutputOptions {
  /**
   * Replace an existing earlier output of this tool; otherwise anything but an empty folder is refused
   * (rule `output-exists`), and even with it anything else is (rule `output-not-ours`).
   */
  overwrite?: boolean;
  /** The job's input checkpoints by role: the output may not be one, hold one or lie inside one (rule `output-overlaps-input`). */
  inputs?: OutputInputs;
}

/** The refusals that need nothing written, so that a refused job changes nothing; the dry run makes them too. */
export async function refuseUnsafeOutput(target: string, options: AtomicOutputOptions): Promise<void> {
  if (options.inputs !== undefined) await refuseOutputOverlappingInputs(target, options.inputs);
  await refuseExistingOutput(resolve(target), options.overwrite === true);
}

export async function createAtomicOutput(target: string, options: AtomicOutputOptions = {}): Promise<AtomicOutput> {
  const finalPath = resolve(target);
  const overwrite = options.overwrite === true;
  await refuseUnsafeOutput(finalPath, options);
  const parent = dirname(finalPath);
  const base = basename(finalPath);
  await mkdir(parent, { recursive: true }).catch((error: Error) => {
    throw new SurgeonError('io', `cannot create the output's parent folder: ${error.message}`, parent);
  });
  const lock = await acquireOutputLock(outputLockPath(finalPath), finalPath);
  let dir: string;
  let cleaned: string[];
  let restored: string | undefined;
  try {
    // Holding the lock, this job is the only one that may write this target: whatever else is there is left over.
    const cleared = await clearOutputLeftovers(finalPath);
    cleaned = [...(lock.removedStale ? [lock.path] : []), ...cleared.removed];
    restored = cleared.restored;
    await refuseExistingOutput(finalPath, overwrite);
    dir = await makeWorkFolder(parent, base);
  } catch (error) {
    await lock.release();
    throw asSurgeonError(error, finalPath);
  }
  let state: 'open' | 'committed' | 'aborted' = 'open';
  return {
    target: finalPath,
    dir,
    cleaned,
    restored,
    async commit() {
      if (state !== 'open') throw new SurgeonError('usage', `the output was already ${state}`, finalPath);
      try {
        await settleTree(dir, await fileModeUnder(dir));
        await refuseExistingOutput(finalPath, overwrite);
        await moveIntoPlace(dir, finalPath);
        await syncFolder(parent);
      } catch (error) {
        throw asSurgeonError(error, finalPath);
      }
      state = 'committed';
      await lock.release();
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      await rm(dir, { recursive: true, force: true });
      await lock.release();
    },
  };
}

/** mkdir, not mkdtemp: mkdtemp makes the folder 0700 whatever the umask, and the folder becomes the output. */
async function makeWorkFolder(parent: string, base: string): Promise<string> {
  for (;;) {
    const dir = join(parent, `.${base}.partial-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * The mode a new file gets under the umask (0666 less the umask), read off the folder the job made
 * (0777 less the umask): process.umask() cannot be read without setting it, which is racy.
 */
async function fileModeUnder(folder: string): Promise<number> {
  return (await stat(folder)).mode & 0o666;
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
  // The new output is in place: a failure here only leaves the old one aside, and the next job to this target removes it.
  await rm(aside, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Gives every file the mode a new file gets (side files copied from an input keep the input's
 * mode otherwise), then fsyncs the files and the folders, so a crash after commit cannot leave
 * renamed but empty files.
 */
async function settleTree(folder: string, fileMode: number): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      await settleTree(path, fileMode);
    } else if (entry.isFile()) {
      const handle = await open(path, 'r');
      try {
        if (process.platform !== 'win32' && ((await handle.stat()).mode & 0o7777) !== fileMode) await handle.chmod(fileMode);
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
