import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SurgeonError, isSurgeonError } from '../errors';

/**
 * The lock file beside an output (`.<name>.lock`) that refuses a second job on the same target. It
 * names its job: the process, when that process started (so a pid reused after a crash does not
 * pass for the dead job) and a token of its own (so a job only ever removes its own lock).
 */
export interface OutputLock {
  readonly path: string;
  /** The lock of a job that died, which this job removed to take the target over. */
  readonly removedStale: boolean;
  /** Removes the lock if it is still this job's; safe to call more than once. */
  release(): Promise<void>;
}

export interface LockRecord {
  pid: number;
  createdAt: string;
  /** The process's start time as the system counts it (Linux: clock ticks since boot); absent where unknown. */
  processStart?: string;
  token?: string;
}

/** A job killed between creating its lock and writing it leaves an empty one; this old, it is not being written. */
const EMPTY_LOCK_GRACE_MS = 10_000;

export async function acquireOutputLock(lockPath: string, target: string): Promise<OutputLock> {
  const record: LockRecord = {
    pid: process.pid,
    createdAt: new Date().toISOString(),
    ...optional('processStart', await processStart(process.pid)),
    token: randomBytes(8).toString('hex'),
  };
  let removedStale = false;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createLock(lockPath, record, target)) {
      return { path: lockPath, removedStale, release: () => releaseLock(lockPath, record.token!) };
    }
    const holder = await readLock(lockPath);
    if (holder === 'gone') continue;
    if (!(await isStale(lockPath, holder))) throw busy(lockPath, holder, target);
    if (await removeStaleLock(lockPath, holder)) removedStale = true;
    else throw busy(lockPath, holder, target);
  }
  throw new SurgeonError('output-busy', `another job is writing this output (lock ${lockPath})`, target);
}

async function createLock(lockPath: string, record: LockRecord, target: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(lockPath, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw asSurgeonError(error, target);
  }
  try {
    await handle.writeFile(JSON.stringify(record));
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(lockPath).catch(() => undefined);
    throw asSurgeonError(error, target);
  }
  return true;
}

/** The lock file of an output: `.<name>.lock` beside it. */
export function outputLockPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.lock`);
}

export async function readLock(lockPath: string): Promise<LockRecord | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'unreadable';
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockRecord>;
    if (typeof parsed.pid !== 'number') return 'unreadable';
    return {
      pid: parsed.pid,
      createdAt: String(parsed.createdAt),
      ...optional('processStart', typeof parsed.processStart === 'string' ? parsed.processStart : undefined),
      ...optional('token', typeof parsed.token === 'string' ? parsed.token : undefined),
    };
  } catch {
    // A lock being written this instant reads as empty.
    return 'unreadable';
  }
}

/**
 * A lock is stale when its process is gone, or the pid now belongs to a process started later. A
 * lock of this very process counts as held: the extension runs jobs in worker threads, which share
 * its pid, and removes the lock of a worker it had to terminate itself (extension/partial-output.ts).
 */
async function isStale(lockPath: string, holder: LockRecord | 'unreadable'): Promise<boolean> {
  if (holder === 'unreadable') {
    const modified = await stat(lockPath).then((stats) => stats.mtimeMs, () => undefined);
    return modified !== undefined && Date.now() - modified > EMPTY_LOCK_GRACE_MS;
  }
  if (!isProcessAlive(holder.pid)) return true;
  if (holder.processStart === undefined) return false;
  const current = await processStart(holder.pid);
  return current !== undefined && current !== holder.processStart;
}

/**
 * Renames the stale lock away before deleting it, so that of two jobs taking it over at once only
 * one succeeds; a lock that is not the one judged stale (a new job's, created meanwhile) is put back.
 */
async function removeStaleLock(lockPath: string, holder: LockRecord | 'unreadable'): Promise<boolean> {
  const claimed = `${lockPath}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, claimed);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
  const moved = await readLock(claimed);
  const same = holder === 'unreadable' ? moved === 'unreadable'
    : moved !== 'gone' && moved !== 'unreadable' && moved.pid === holder.pid && moved.createdAt === holder.createdAt && moved.token === holder.token;
  if (!same) {
    await rename(claimed, lockPath).catch(() => undefined);
    return false;
  }
  await unlink(claimed).catch(() => undefined);
  return true;
}

async function releaseLock(lockPath: string, token: string): Promise<void> {
  const holder = await readLock(lockPath);
  if (holder === 'gone' || (holder !== 'unreadable' && holder.token !== undefined && holder.token !== token)) return;
  await unlink(lockPath).catch(() => undefined);
}

function busy(lockPath: string, holder: LockRecord | 'unreadable', target: string): SurgeonError {
  const who = holder === 'unreadable' ? 'another job' : `another job (process ${holder.pid}, since ${holder.createdAt})`;
  return new SurgeonError('output-busy', `${who} is writing this output; if it is gone, delete ${lockPath}`, target);
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. Linux only. */
async function processStart(pid: number): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces; fields 3 onwards follow the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function asSurgeonError(error: unknown, target: string): SurgeonError {
  if (isSurgeonError(error)) return error;
  return new SurgeonError('io', (error as Error).message, target);
}
