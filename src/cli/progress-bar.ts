import { SingleBar, Presets } from 'cli-progress';
import type { JobProgress } from '../shared/jobs';

/** Bytes, rate and ETA of a job on stderr when it is a terminal; nothing otherwise (logs, CI, pipes). */
export function createProgressBar(label: string): { update(progress: JobProgress): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const started = performance.now();
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${label} {bar} {percentage}% | {done}/{total} | {rate} | ETA {eta_formatted} | {tensor}`,
    hideCursor: true,
    etaBuffer: 50,
    fps: 5,
  }, Presets.shades_classic);
  let running = false;
  return {
    update(progress) {
      if (progress.phase === 'finalize' || progress.bytesTotal === 0) return;
      const seconds = (performance.now() - started) / 1000;
      const payload = {
        done: formatBytes(progress.bytesDone),
        total: formatBytes(progress.bytesTotal),
        rate: `${formatBytes(seconds > 0 ? progress.bytesDone / seconds : 0)}/s`,
        tensor: progress.tensor ?? '',
      };
      if (!running) {
        bar.start(progress.bytesTotal, progress.bytesDone, payload);
        running = true;
      } else {
        // A download (plan phase) and the stream that follows it have different totals.
        if (bar.getTotal() !== progress.bytesTotal) bar.setTotal(progress.bytesTotal);
        bar.update(progress.bytesDone, payload);
      }
    },
    stop() {
      if (running) bar.stop();
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 2)} ${units[unit]}`;
}
