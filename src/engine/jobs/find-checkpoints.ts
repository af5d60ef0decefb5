import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Folders not worth descending into when looking for checkpoints. */
const SKIPPED_FOLDERS = new Set(['node_modules', '.git', '.hg', '.svn', '__pycache__', '.venv', 'venv', '.cache', 'dist', 'out']);

/** How deep below the workspace folder checkpoints are looked for. */
export const MAX_SEARCH_DEPTH = 6;

/** Folders holding safetensors weights (a model file, an index or another `*.safetensors`), sorted. */
export async function findCheckpoints(folder: string, maxDepth = MAX_SEARCH_DEPTH): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((entry) => entry.isFile() && (entry.name.endsWith('.safetensors') || entry.name.endsWith('.safetensors.index.json')))) {
      found.push(dir);
    }
    if (depth >= maxDepth) return;
    await Promise.all(entries
      .filter((entry) => entry.isDirectory() && !SKIPPED_FOLDERS.has(entry.name) && !entry.name.includes('.partial-'))
      .map((entry) => visit(join(dir, entry.name), depth + 1)));
  };
  await visit(folder, 0);
  return found.sort();
}
