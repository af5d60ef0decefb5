import { openCheckpoint } from '../checkpoint/open-checkpoint';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import type { HubDownloadProgress } from '../hub/hub-download';
import { resolveCheckpointPath } from '../hub/resolve-checkpoint';
import type { JobCallbacks } from '../../shared/jobs';

/**
 * Opens a checkpoint named the way users name them: a folder, a file, or a Hub id in the local
 * Hugging Face cache; with `allowDownload`, an id that is not cached is fetched into the cache first
 * (its progress reported as the plan phase).
 */
export async function openInput(spec: string, callbacks: Pick<JobCallbacks, 'signal' | 'allowDownload' | 'onProgress'> = {}): Promise<Checkpoint> {
  const path = await resolveCheckpointPath(spec, {
    ...(callbacks.signal ? { signal: callbacks.signal } : {}),
    ...(callbacks.allowDownload ? {
      allowDownload: true,
      onProgress: (progress: HubDownloadProgress) => callbacks.onProgress?.({
        phase: 'plan', bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal, tensorsDone: 0, tensorsTotal: 0, tensor: progress.file,
      }),
    } : {}),
  });
  return openCheckpoint(path);
}

/**
 * Opens several inputs at once. When some fail, the error of the first in argument order is thrown, after
 * all have settled: which message a user sees must not depend on which disk or download answered first.
 */
export async function openInputs<T extends readonly string[]>(
  specs: T,
  callbacks: Pick<JobCallbacks, 'signal' | 'allowDownload' | 'onProgress'> = {},
): Promise<{ [K in keyof T]: Checkpoint }> {
  const settled = await Promise.allSettled(specs.map((spec) => openInput(spec, callbacks)));
  const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<Checkpoint>).value) as { [K in keyof T]: Checkpoint };
}
