import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface ClearedLeftovers {
  /** Paths removed. */
  removed: string[];
  /** An earlier output that had been moved aside and was put back at the target. */
  restored?: string;
}

/**
 * Clears what interrupted jobs left beside `target`: partial folders (`.<name>.partial-*`), an
 * earlier output moved aside to be replaced (`.<name>.old-*`) and stale locks being taken over
 * (`.<name>.lock.stale-*`). Only the job holding the target's lock may call it: no live job can
 * own any of them then. A job killed between moving the earlier output aside and moving the new one
 * in leaves no target: the earlier output, the one known to be complete, goes back in its place.
 */
export async function clearOutputLeftovers(target: string): Promise<ClearedLeftovers> {
  const parent = dirname(target);
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(target))}\\.(partial|old|lock\\.stale)-[A-Za-z0-9]+$`);
  const leftovers = (await readdir(parent).catch(() => [] as string[])).filter((name) => pattern.test(name)).map((name) => join(parent, name));
  const cleared: ClearedLeftovers = { removed: [] };
  const asides = leftovers.filter((path) => basename(path).startsWith(`.${basename(target)}.old-`));
  if (asides.length > 0 && (await lstat(target).catch(() => undefined)) === undefined) {
    const newest = await newestOf(asides);
    await rename(newest, target);
    cleared.restored = newest;
  }
  for (const path of leftovers) {
    if (path === cleared.restored) continue;
    await rm(path, { recursive: true, force: true });
    cleared.removed.push(path);
  }
  return cleared;
}

/** The one moved aside last (a rename changes the ctime). */
async function newestOf(paths: readonly string[]): Promise<string> {
  const times = await Promise.all(paths.map(async (path) => ({ path, ctimeMs: (await lstat(path)).ctimeMs })));
  return times.sort((a, b) => b.ctimeMs - a.ctimeMs)[0]!.path;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
