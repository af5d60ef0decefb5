import { openCheckpoint } from '../checkpoint/open-checkpoint';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import { resolveCheckpointPath } from '../hub/resolve-checkpoint';
import type { JobCallbacks } from '../../shared/jobs';

/**
 * Opens a checkpoint named the way users name them: a folder, a file, or a Hub id that is in the
 * local Hugging Face cache. Jobs never download; fetching is an explicit, separate step.
 */
export async function openInput(spec: string, callbacks: Pick<JobCallbacks, 'signal'> = {}): Promise<Checkpoint> {
  const path = await resolveCheckpointPath(spec, callbacks.signal ? { signal: callbacks.signal } : {});
  return openCheckpoint(path);
}
