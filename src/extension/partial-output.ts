/**
 * Leaves no partial output behind a cancelled or failed job. The engine writes into a temporary
 * folder and renames it at the end, but a worker terminated mid-write cannot clean up, so the
 * host removes what the job created: the output folder if it did not exist before the job, and
 * temporary siblings named after it that appeared since the job started.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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
  return removed;
}
