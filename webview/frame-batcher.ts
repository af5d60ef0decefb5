/**
 * Collects items that arrive faster than the view can draw (tensor reports of a live run) and hands
 * them over once per animation frame, so thousands of messages cost one re-render per frame.
 */
export type FrameScheduler = (callback: () => void) => unknown;

export class FrameBatcher<T> {
  private pending: T[] = [];
  private scheduled = false;

  constructor(
    private readonly flush: (items: T[]) => void,
    private readonly schedule: FrameScheduler,
  ) {}

  push(items: readonly T[]): void {
    if (items.length === 0) return;
    // A loop, not push(...items): spreading a very large batch would overflow the call stack.
    for (const item of items) this.pending.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.drain());
  }

  /** Drops what has not been drawn yet (a new report replaces the live one). */
  clear(): void {
    this.pending = [];
  }

  /** Hands over what is pending at once (the run failed: what arrived before counts, and no frame is waited for). */
  drainNow(): void {
    this.drain();
  }

  private drain(): void {
    this.scheduled = false;
    const items = this.pending;
    this.pending = [];
    if (items.length > 0) this.flush(items);
  }
}
