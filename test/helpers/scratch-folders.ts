import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** Returns a maker of fresh, empty folders, one per call, under a temporary root removed after the test file. */
export function scratchFolders(prefix: string): () => Promise<string> {
  const root = mkdtemp(join(tmpdir(), prefix));
  after(async () => rm(await root, { recursive: true, force: true }));
  let count = 0;
  return async () => {
    const folder = join(await root, `case-${count++}`);
    await mkdir(folder);
    return folder;
  };
}
