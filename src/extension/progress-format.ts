/**
 * Words for a running job's progress: percent, throughput and time left. Pure, so it is unit-tested
 * without VS Code; the rate is smoothed so the ETA does not jump with every read.
 */
import { formatBytes } from '../shared/quantities';
import type { JobProgress } from '../shared/jobs';

/** Weight of the newest sample in the exponential moving average of bytes per second. */
const RATE_SMOOTHING = 0.3;
/** Below this much elapsed time a rate is noise, so no rate or ETA is shown yet. */
const MIN_RATE_WINDOW_MS = 500;


export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m ${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

export function percentOf(progress: JobProgress): number {
  if (progress.bytesTotal > 0) return Math.min(100, (100 * progress.bytesDone) / progress.bytesTotal);
  if (progress.tensorsTotal > 0) return Math.min(100, (100 * progress.tensorsDone) / progress.tensorsTotal);
  return 0;
}

/** Tracks one job's progress samples and turns them into a status line. */
export class ProgressMeter {
  private lastBytes = 0;
  private lastAt: number;
  private rate: number | undefined;
  private phase: JobProgress['phase'] | undefined;

  constructor(private readonly now: () => number = Date.now) {
    this.lastAt = now();
  }

  /** Feeds a sample; returns the status line for it. */
  update(progress: JobProgress): string {
    const at = this.now();
    if (progress.phase !== this.phase) {
      // Each phase counts its own bytes (the spectra's f32 deltas after the stream's file bytes).
      this.phase = progress.phase;
      this.lastBytes = progress.bytesDone;
      this.lastAt = at;
      this.rate = undefined;
    }
    const elapsed = at - this.lastAt;
    if (elapsed >= MIN_RATE_WINDOW_MS && progress.bytesDone >= this.lastBytes) {
      const sample = ((progress.bytesDone - this.lastBytes) * 1000) / elapsed;
      this.rate = this.rate === undefined ? sample : RATE_SMOOTHING * sample + (1 - RATE_SMOOTHING) * this.rate;
      this.lastBytes = progress.bytesDone;
      this.lastAt = at;
    }
    return describeProgress(progress, this.rate);
  }
}

export function describeProgress(progress: JobProgress, bytesPerSecond: number | undefined): string {
  const parts = [`${percentOf(progress).toFixed(0)}%`];
  if (progress.phase === 'plan') parts.push('planning');
  if (progress.phase === 'spectra') parts.push('spectra');
  if (progress.phase === 'finalize') parts.push('finishing');
  if (progress.tensorsTotal > 0) parts.push(`${progress.tensorsDone}/${progress.tensorsTotal} tensors`);
  if (progress.bytesTotal > 0) parts.push(`${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}`);
  if (bytesPerSecond !== undefined && bytesPerSecond > 0 && (progress.phase === 'stream' || progress.phase === 'spectra')) {
    parts.push(`${formatBytes(bytesPerSecond)}/s`);
    parts.push(`ETA ${formatDuration((progress.bytesTotal - progress.bytesDone) / bytesPerSecond)}`);
  }
  return parts.join(' · ');
}
