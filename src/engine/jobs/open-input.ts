import { openCheckpoint, type OpenCheckpointOptions } from '../checkpoint/open-checkpoint';
import { isSurgeonError } from '../errors';
import type { Checkpoint } from '../checkpoint/checkpoint-types';
import type { HubDownloadProgress } from '../hub/hub-download';
import { resolveCheckpoint } from '../hub/resolve-checkpoint';
import { refuseQuantized } from './refuse-quantized';
import type { JobCallbacks } from '../../shared/jobs';

/**
 * Opens a checkpoint named the way users name them: a folder, a file, or a Hub id in the local
 * Hugging Face cache; with `allowDownload`, an id that is not cached is fetched into the cache first
 * (its progress reported as the plan phase). A quantized checkpoint is refused unless `quantized` is 'allow'
 * (inspect describes it; the jobs that do arithmetic on its weights must not read them). `weights: 'optional'`
 * opens a checkpoint whose weight files are absent or Git LFS pointers (see {@link OpenCheckpointOptions}).
 * The checkpoint keeps where it came from: its absolute path, and its Hub repo when it was found in the cache.
 */
export async function openInput(
  spec: string,
  callbacks: Pick<JobCallbacks, 'signal' | 'allowDownload' | 'onProgress'> = {},
  options: { quantized?: 'refuse' | 'allow' | 'fp8' } & OpenCheckpointOptions = {},
): Promise<Checkpoint> {
  const resolved = await resolveCheckpoint(spec, {
    ...(callbacks.signal ? { signal: callbacks.signal } : {}),
    ...(callbacks.allowDownload ? {
      allowDownload: true,
      onProgress: (progress: HubDownloadProgress) => callbacks.onProgress?.({
        phase: 'plan', bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal, tensorsDone: 0, tensorsTotal: 0, tensor: progress.file,
      }),
    } : {}),
  });
  const checkpoint = await openCheckpoint(resolved.path, options.weights ? { weights: options.weights } : {});
  checkpoint.source = resolved.path;
  if (resolved.hub) checkpoint.hub = resolved.hub;
  if (options.quantized !== 'allow') refuseQuantized(checkpoint, { fp8: options.quantized === 'fp8' });
  return checkpoint;
}

/**
 * Opens several inputs at once. The first failure stops the others (a download of one need not finish before
 * a typo in another is reported), and the error reported is that of the first input in argument order that
 * failed by itself, whichever failed first in time; an input stopped that way is never blamed.
 */
export async function openInputs<T extends readonly string[]>(
  specs: T,
  callbacks: Pick<JobCallbacks, 'signal' | 'allowDownload' | 'onProgress'> = {},
  options: { quantized?: 'refuse' | 'fp8' } & OpenCheckpointOptions = {},
): Promise<{ [K in keyof T]: Checkpoint }> {
  const stopper = new AbortController();
  const signal = callbacks.signal ? AbortSignal.any([callbacks.signal, stopper.signal]) : stopper.signal;
  const settled = await Promise.allSettled(specs.map((spec) => openInput(spec, { ...callbacks, signal }, options).catch((error: unknown) => {
    stopper.abort();
    throw error;
  })));
  const stoppedByAnother = (error: unknown): boolean =>
    isSurgeonError(error) && error.rule === 'cancelled' && !callbacks.signal?.aborted;
  const failures = settled.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
  if (failures.length > 0) throw failures.find((error) => !stoppedByAnother(error)) ?? failures[0];
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<Checkpoint>).value) as { [K in keyof T]: Checkpoint };
}
