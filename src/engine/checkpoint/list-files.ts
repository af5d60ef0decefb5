import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Names of the regular files in a folder, symbolic links to regular files included: a Hugging Face
 * cache snapshot is a folder of links into its blobs, and must open like any other checkpoint.
 */
export async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const names = await Promise.all(entries.map(async (entry) => {
    if (entry.isFile()) return entry.name;
    if (!entry.isSymbolicLink()) return undefined;
    const target = await stat(join(folder, entry.name)).catch(() => undefined);
    return target?.isFile() ? entry.name : undefined;
  }));
  return names.filter((name): name is string => name !== undefined);
}
