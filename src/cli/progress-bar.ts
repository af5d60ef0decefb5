import { SingleBar, Presets } from 'cli-progress';
import { formatBytes } from '../shared/quantities';
import type { JobProgress } from '../shared/jobs';

/** Where the bar is drawn: process.stderr, or the CLI's stderr text sink with its terminal's shape. */
export interface ProgressTerminal {
  readonly isTTY?: boolean;
  readonly columns?: number | undefined;
  write(text: string): unknown;
}

/**
 * Bytes, rate and ETA of a job on stderr when it is a terminal; nothing otherwise (logs, CI, pipes).
 * The diff's spectral pass gets a bar of its own after the stream's, counting its matrices' f32 deltas.
 */
export function createProgressBar(label: string, terminal: ProgressTerminal = process.stderr): { update(progress: JobProgress): void; stop(): void } {
  if (!terminal.isTTY) return { update() {}, stop() {} };
  const stream = writeStreamOf(terminal);
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

/** What cli-progress and node:readline write through: write(text, callback?), isTTY and columns. */
function writeStreamOf(terminal: ProgressTerminal): NodeJS.WriteStream {
  const stream = {
    get isTTY() { return terminal.isTTY === true; },
    get columns() { return terminal.columns; },
    write(text: string | Uint8Array, encoding?: BufferEncoding | (() => void), callback?: () => void): boolean {
      terminal.write(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
      const done = typeof encoding === 'function' ? encoding : callback;
      if (done) process.nextTick(done);
      return true;
    },
  };
  return stream as unknown as NodeJS.WriteStream;
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
