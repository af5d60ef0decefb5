import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SurgeonError } from '../errors';
import { TOOL_NAME } from '../version';
import { PROVENANCE_FILE, readProvenance } from './provenance-file';

/** What is at an output path before a job writes there. */
export type ExistingOutput =
  | { kind: 'absent' }
  | { kind: 'empty-folder' }
  /** A folder an earlier compute or apply wrote. */
  | { kind: 'ours'; operation: string }
  /** Anything else; `what` says what it is, to finish "the output ...". */
  | { kind: 'not-ours'; what: string };

export async function examineExistingOutput(target: string): Promise<ExistingOutput> {
  const unreadable = (error: NodeJS.ErrnoException): never => {
    throw new SurgeonError('io', `cannot examine the output: ${error.message}`, target);
  };
  const stats = await lstat(target).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : unreadable(error)));
  if (stats === undefined) return { kind: 'absent' };
  if (stats.isSymbolicLink()) return { kind: 'not-ours', what: 'is a symbolic link' };
  if (!stats.isDirectory()) return { kind: 'not-ours', what: 'is a file' };
  if ((await readdir(target).catch(unreadable)).length === 0) return { kind: 'empty-folder' };
  // Only a plain file counts: a link named provenance.json could make anyone's folder look like ours.
  const recorded = (await lstat(join(target, PROVENANCE_FILE)).catch(() => undefined))?.isFile() === true;
  const provenance = recorded ? await readProvenance(target) : undefined;
  if (provenance !== undefined) return { kind: 'ours', operation: provenance.operation };
  return { kind: 'not-ours', what: `is a folder without the ${PROVENANCE_FILE} that ${TOOL_NAME} writes into its outputs` };
}

/**
 * An absent output or an empty folder is fine. Anything else is refused (rule `output-exists`)
 * unless `overwrite`, which replaces only an earlier output of this tool: what else is there may be
 * the user's, so it is refused even then (rule `output-not-ours`).
 */
export async function refuseExistingOutput(target: string, overwrite: boolean): Promise<void> {
  const existing = await examineExistingOutput(target);
  if (existing.kind === 'absent' || existing.kind === 'empty-folder') return;
  if (existing.kind === 'ours') {
    if (overwrite) return;
    throw new SurgeonError('output-exists',
      `the output already exists (an earlier ${existing.operation} output of ${TOOL_NAME}); pass --overwrite to replace it, or choose another path`,
      target);
  }
  const only = `--overwrite replaces only an empty folder or an earlier output of ${TOOL_NAME}`;
  if (!overwrite) {
    throw new SurgeonError('output-exists', `the output already exists and ${existing.what}; choose another path (${only})`, target);
  }
  throw new SurgeonError('output-not-ours',
    `the output ${existing.what}, so it may hold files of yours: ${only}; choose another path, or move it away yourself first`,
    target);
}
