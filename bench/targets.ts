/** The issue's targets as PASS/FAIL checks over one benchmark run's rows. */
import type { IndexTimings } from './index-timing';
import type { Mode, PairResult, RowResult } from './pair-runs';

/** Ratios to the I/O floor the issue asks for: warm leaves room for the CPU work, cold is disk-bound. */
const FLOOR_RATIO_LIMIT: Record<Mode, number> = { warm: 1.3, cold: 1.1 };
const TORCH_SPEEDUP_MINIMUM = 2;
const RSS_LIMIT_MB = 128;
/** Peak RSS may differ this much between pair sizes and still count as flat (independent of model size). */
const RSS_FLATNESS = 0.1;
const HEADER_ONLY_LIMIT_SECONDS = 0.1;

export interface Check {
  name: string;
  target: string;
  value: string;
  pass: boolean;
}

const find = (pair: PairResult, id: string, mode: Mode): RowResult | undefined =>
  pair.rows.find((row) => row.id === id && row.mode === mode);

export function targetChecks(pairs: readonly PairResult[], index: IndexTimings | null): Check[] {
  const checks: Check[] = [];
  for (const pair of pairs) {
    for (const id of ['compute', 'compute-cached', 'apply', 'apply-cached']) {
      for (const mode of ['warm', 'cold'] as const) {
        const row = find(pair, id, mode);
        if (!row || row.ratioToFloor === null) continue;
        checks.push({
          name: `${pair.gb} GB ${mode}: ${row.label}`, target: `<= ${FLOOR_RATIO_LIMIT[mode]}x floor`,
          value: `${row.ratioToFloor.toFixed(2)}x`, pass: row.ratioToFloor <= FLOOR_RATIO_LIMIT[mode],
        });
      }
    }
    // Against the fastest reasonable torch way of the same job (same output dtype), per-round medians.
    for (const id of ['compute-f32', 'compute']) {
      for (const mode of ['warm', 'cold'] as const) {
        const ours = find(pair, id, mode);
        if (!ours || ours.torch === null || ours.ratioToTorch === null) continue;
        const speedup = 1 / ours.ratioToTorch;
        checks.push({
          name: `${pair.gb} GB ${mode}: ${ours.label} vs the fastest torch way (${ours.torch})`, target: `>= ${TORCH_SPEEDUP_MINIMUM}x faster`,
          value: `${speedup.toFixed(2)}x`, pass: speedup >= TORCH_SPEEDUP_MINIMUM,
        });
      }
    }
    const cliRows = pair.rows.filter((row) => !row.id.startsWith('floor') && !row.id.startsWith('torch') && row.rssMb !== null);
    if (cliRows.length > 0) {
      const worst = cliRows.reduce((max, row) => (row.rssMb! > max.rssMb! ? row : max));
      checks.push({
        name: `${pair.gb} GB: peak RSS of every CLI row (largest: ${worst.id} ${worst.mode})`, target: `<= ${RSS_LIMIT_MB} MB`,
        value: `${worst.rssMb!.toFixed(0)} MB`, pass: worst.rssMb! <= RSS_LIMIT_MB,
      });
    }
  }
  if (pairs.length >= 2) {
    for (const id of ['compute', 'apply', 'verify']) {
      const rss = pairs.map((pair) => find(pair, id, 'warm')?.rssMb).filter((value): value is number => typeof value === 'number');
      if (rss.length < 2) continue;
      const spread = Math.max(...rss) / Math.min(...rss) - 1;
      checks.push({
        name: `${id} peak RSS flat across ${pairs.map((pair) => `${pair.gb} GB`).join(', ')} (${rss.map((value) => value.toFixed(0)).join(' / ')} MB)`,
        target: `within ${RSS_FLATNESS * 100}%`, value: `${(spread * 100).toFixed(1)}%`, pass: spread <= RSS_FLATNESS,
      });
    }
  }
  if (index) {
    const header = (name: string, seconds: number): Check => ({
      name, target: `< ${HEADER_ONLY_LIMIT_SECONDS * 1000} ms`, value: `${(seconds * 1000).toFixed(1)} ms`, pass: seconds < HEADER_ONLY_LIMIT_SECONDS,
    });
    checks.push(header('70 B index: inspect --json, whole process (node start-up included)', index.inspectProcess.seconds));
    checks.push(header('70 B index: inspect, in-process (median of 10)', index.inspectInProcess.seconds));
    if (index.dryRunProcess) checks.push(header('70 B index: compute --dry-run, whole process', index.dryRunProcess.seconds));
  }
  return checks;
}
