import { stat } from 'node:fs/promises';
import { SurgeonError } from '../errors';
import type { CheckpointFile } from './checkpoint-types';

/**
 * Re-stats an input file and refuses to go on when its size or mtime changed since its header
 * was read: a download or another job rewriting it would make the offsets we hold wrong.
 */
export async function assertUnchanged(file: CheckpointFile): Promise<void> {
  let now;
  try {
    now = await stat(file.path);
  } catch (error) {
    throw new SurgeonError('input-changed',
      `the file can no longer be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}) since it was opened`, file.path);
  }
  if (now.size !== file.size || now.mtimeMs !== file.mtimeMs) {
    throw new SurgeonError('input-changed',
      `the file changed since it was opened (size ${file.size} -> ${now.size}, `
      + `modified ${new Date(file.mtimeMs).toISOString()} -> ${new Date(now.mtimeMs).toISOString()})`, file.path);
  }
}
