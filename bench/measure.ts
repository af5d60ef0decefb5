/**
 * Whole-process timing for the benchmarks: wall seconds around the child and its peak RSS from
 * `/usr/bin/time -v`, medians, and dropping the page cache for cold runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const GNU_TIME = '/usr/bin/time';
/** Children's stdout is discarded, but `--json` results of inspect on a 70 B index are a few MB. */
const CHILD_OUTPUT_LIMIT = 256 * 1024 * 1024;

export interface Measurement {
  seconds: number;
  /** Peak resident set of the child in MB (2^20 bytes); null without GNU time. */
  rssMb: number | null;
  /** What the child printed to stdout (the `--json` result of a CLI run). */
  stdout?: string;
}

export interface ProcessSpec {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

const hasGnuTime = existsSync(GNU_TIME);

/** Runs the command once; throws with the tail of its stderr when it fails. */
export function timeProcess(spec: ProcessSpec): Measurement {
  const [command, args] = hasGnuTime ? [GNU_TIME, ['-v', spec.command, ...spec.args]] : [spec.command, spec.args];
  const start = performance.now();
  const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: CHILD_OUTPUT_LIMIT, env: spec.env ?? process.env });
  const seconds = (performance.now() - start) / 1000;
  if (run.status !== 0) {
    throw new Error(`${spec.command} ${spec.args.join(' ')} exited ${run.status ?? run.signal}: ${(run.stderr ?? '').slice(-2000)}`);
  }
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr ?? '');
  return { seconds, rssMb: rss ? Number(rss[1]) / 1024 : null, stdout: run.stdout ?? '' };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface RepeatedMeasurement extends Measurement {
  runs: number;
  allSeconds: number[];
}

/**
 * Median wall time of `runs` runs and the largest peak RSS among them. `cleanup` runs after each timed
 * run, outside the timed part (deleting outputs).
 */
export function repeat(runs: number, run: (index: number) => Measurement, hooks: { cleanup?: (index: number) => void } = {}): RepeatedMeasurement {
  const results: Measurement[] = [];
  for (let index = 0; index < runs; index++) {
    try {
      results.push(run(index));
    } finally {
      hooks.cleanup?.(index);
    }
  }
  return summarize(results);
}

/** The median wall time and the largest peak RSS of some runs. */
export function summarize(results: readonly Measurement[]): RepeatedMeasurement {
  const rss = results.map((result) => result.rssMb).filter((value): value is number => value !== null);
  return {
    seconds: median(results.map((result) => result.seconds)),
    rssMb: rss.length > 0 ? Math.max(...rss) : null,
    runs: results.length,
    allSeconds: results.map((result) => result.seconds),
  };
}

/** `sync && echo 3 > /proc/sys/vm/drop_caches`; false where that file is not writable (not root, containers). */
export function dropCaches(): boolean {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

/** Reads the files once so that warm runs start from the page cache. */
export function warmPageCache(files: readonly string[]): void {
  if (files.length > 0) spawnSync('cat', [...files], { stdio: ['ignore', 'ignore', 'inherit'] });
}

export function removeQuietly(path: string): void {
  rmSync(path, { recursive: true, force: true });
}
