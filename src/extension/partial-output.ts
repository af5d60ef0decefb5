/**
 * Leaves no partial output behind a cancelled or failed job. The engine writes into a temporary
 * folder and renames it at the end, but a worker terminated mid-write cannot clean up, so the
 * host removes what the job created: the output folder if it did not exist before the job, and
 * temporary siblings named after it that appeared since the job started, and the job's lock file.
 */
import { readdir, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { clearOutputLeftovers } from '../engine/io/output-leftovers';
import { outputLockPath, readLock } from '../engine/io/output-lock';

/** Names the engine's atomic writer may give its work folder next to `out` (`.out.tmp-…`, `out.partial-…`). */
function isTemporarySibling(name: string, outName: string): boolean {
  const stripped = name.startsWith('.') ? name.slice(1) : name;
  if (!stripped.startsWith(outName) || stripped === outName) return false;
  return /(tmp|temp|partial|incomplete)/i.test(stripped.slice(outName.length));
}

export interface OutputSnapshot {
  out: string;
  existed: boolean;
  startedAtMs: number;
}

export async function snapshotOutput(out: string): Promise<OutputSnapshot> {
  const existed = await stat(out).then(() => true, () => false);
  return { out, existed, startedAtMs: Date.now() };
}

/** Returns the paths it removed. */
export async function removePartialOutput(snapshot: OutputSnapshot): Promise<string[]> {
  const removed: string[] = [];
  const lockPath = outputLockPath(snapshot.out);
  const ownsLock = await isLockOfFailedJob(lockPath, snapshot);
  // Still holding the failed job's lock, the host may clear as that job would have: a worker terminated
  // between moving the earlier output aside and moving the new one in gets the earlier one put back.
  if (ownsLock) removed.push(...(await clearOutputLeftovers(snapshot.out)).removed);
  if (!snapshot.existed && (await stat(snapshot.out).then(() => true, () => false))) {
    await rm(snapshot.out, { recursive: true, force: true });
    removed.push(snapshot.out);
  }
  const parent = dirname(snapshot.out);
  const outName = basename(snapshot.out);
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    if (!isTemporarySibling(name, outName)) continue;
    const path = join(parent, name);
    const info = await stat(path).catch(() => undefined);
    // A sibling older than the job belongs to someone else (another run, another tool).
    if (info === undefined || info.mtimeMs < snapshot.startedAtMs - 1_000) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  if (ownsLock) {
    await unlink(lockPath).catch(() => undefined);
    removed.push(lockPath);
  }
  return removed;
}

/**
 * The engine's lock (`.out.lock`, JSON with `pid` and `createdAt`) outlives a terminated worker,
 * and a worker thread shares the host's pid, so the engine would take the lock as held by a live
 * job and refuse every later job to that output. A lock of this process taken since the failed
 * job started is that job's; an older one belongs to another job still running here.
 */
async function isLockOfFailedJob(lockPath: string, snapshot: OutputSnapshot): Promise<boolean> {
  const lock = await readLock(lockPath);
  return typeof lock === 'object' && lock.pid === process.pid && Date.parse(lock.createdAt) >= snapshot.startedAtMs;
}
