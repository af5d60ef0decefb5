import { SingleBar, Presets } from 'cli-progress';
import { formatBytes } from '../shared/quantities';
import type { JobProgress } from '../shared/jobs';

/**
 * Bytes, rate and ETA of a job on stderr when it is a terminal; nothing otherwise (logs, CI, pipes).
 * The diff's spectral pass gets a bar of its own after the stream's, counting its matrices' f32 deltas.
 */
export function createProgressBar(label: string, stream: NodeJS.WriteStream = process.stderr): { update(progress: JobProgress): void; stop(): void } {
  if (!stream.isTTY) return { update() {}, stop() {} };
  let bar: SingleBar | undefined;
  let started = 0;
  let spectra = false;
  return {
    update(progress) {
      if (progress.phase === 'spectra' && !spectra) {
        // Ends the stream's bar before the spectral backend prints which provider it runs on.
        spectra = true;
        bar?.stop();
        bar = undefined;
      }
      if (progress.phase === 'finalize' || progress.bytesTotal === 0) return;
      const payload = (seconds: number) => ({
        done: formatBytes(progress.bytesDone),
        size: formatBytes(progress.bytesTotal),
        rate: `${formatBytes(seconds > 0 ? progress.bytesDone / seconds : 0)}/s`,
        tensor: progress.tensor ?? '',
      });
      if (bar === undefined) {
        bar = newBar(spectra ? `${label} spectra` : label, stream);
        started = performance.now();
        bar.start(progress.bytesTotal, progress.bytesDone, payload(0));
        return;
      }
      // A download (plan phase) and the stream that follows it have different totals.
      if (bar.getTotal() !== progress.bytesTotal) bar.setTotal(progress.bytesTotal);
      bar.update(progress.bytesDone, payload((performance.now() - started) / 1000));
    },
    stop() {
      bar?.stop();
    },
  };
}

function newBar(title: string, stream: NodeJS.WriteStream): SingleBar {
  return new SingleBar({
    stream,
    // `total` would name cli-progress's own raw count, so the formatted one is `size`.
    format: `${title} {bar} {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted} | {tensor}`,
    hideCursor: true,
    etaBuffer: 50,
    fps: 5,
  }, Presets.shades_classic);
}
