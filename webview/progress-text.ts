/** The report's status line during a live run, from the job's progress. Pure, so it is unit-tested. */
import type { JobProgress } from '../src/shared/jobs';
import { formatBytes } from '../src/shared/quantities';

/** `stream: 3 of 10 tensors, 2.01 GB of 16.1 GB (12%) · model.layers.2.mlp.up_proj.weight`. */
export function progressText(progress: JobProgress): string {
  const bytes = progress.bytesTotal > 0
    ? `, ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)} (${Math.round((progress.bytesDone / progress.bytesTotal) * 100)}%)`
    : '';
  const tensor = progress.tensor === undefined ? '' : ` · ${progress.tensor}`;
  return `${progress.phase}: ${progress.tensorsDone} of ${progress.tensorsTotal} tensors${bytes}${tensor}`;
}
