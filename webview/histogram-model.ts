/** The delta histogram's bars and axis ticks. Pure. */

export function binCentres(min: number, max: number, bins: number): number[] {
  const width = (max - min) / bins;
  return Array.from({ length: bins }, (_, i) => min + (i + 0.5) * width);
}

/** Multiples of `step` in [min, max]. */
function tickCount(min: number, max: number, step: number): number {
  return Math.floor(max / step + 1e-9) - Math.ceil(min / step - 1e-9) + 1;
}

/** The smallest step of the form 1, 2 or 5 × 10^k whose multiples in [min, max] are at most `maxTicks`. */
export function niceStep(min: number, max: number, maxTicks: number): number {
  const range = max - min;
  if (!(range > 0) || !Number.isFinite(range)) return 1;
  const power = 10 ** Math.floor(Math.log10(range / Math.max(1, maxTicks)));
  for (let scale = power; ; scale *= 10) {
    for (const mantissa of [1, 2, 5]) {
      const step = Number((mantissa * scale).toPrecision(12));
      if (tickCount(min, max, step) <= Math.max(1, maxTicks)) return step;
    }
  }
}

/**
 * Round tick values in [min, max]: the multiples of a 1/2/5 × 10^k step, at most `maxTicks` of
 * them, with float noise rounded away (0.30000000000000004 is 0.3) and zero exactly 0.
 */
export function niceTicks(min: number, max: number, maxTicks: number): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  if (max === min) return [min];
  const step = niceStep(min, max, maxTicks);
  const ticks: number[] = [];
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  for (let i = first; i <= last; i++) ticks.push(i === 0 ? 0 : Number((i * step).toPrecision(12)));
  return ticks;
}
