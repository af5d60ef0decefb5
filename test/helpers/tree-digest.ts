import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Everything under `root`, by path relative to it: `sha256 mode` for a file, `folder mode` for a
 * folder, `link -> target` for a symbolic link (not followed). Two equal digests mean nothing was
 * added, removed, rewritten or re-permissioned.
 */
export async function treeDigest(root: string): Promise<Map<string, string>> {
  const digest = new Map<string, string>();
  const walk = async (folder: string): Promise<void> => {
    for (const name of (await readdir(folder)).sort()) {
      const path = join(folder, name);
      const key = relative(root, path);
      const stats = await lstat(path);
      const mode = (stats.mode & 0o7777).toString(8);
      if (stats.isSymbolicLink()) {
        digest.set(key, `link -> ${await readlink(path)}`);
      } else if (stats.isDirectory()) {
        digest.set(key, `folder ${mode}`);
        await walk(path);
      } else {
        digest.set(key, `${createHash('sha256').update(await readFile(path)).digest('hex')} ${mode}`);
      }
    }
  };
  await walk(root);
  return digest;
}
