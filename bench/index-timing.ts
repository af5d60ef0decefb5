/**
 * Header-only work on the sparse Llama-2-70B index: `inspect --json` as a whole process and
 * in-process (node start-up alone is ~40 ms), and `compute --dry-run` where the CLI has it.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { runInspect } from '../src/engine/jobs/inspect';
import { median, removeQuietly, repeat, timeProcess, type RepeatedMeasurement } from './measure';

const IN_PROCESS_RUNS = 10;
const WHOLE_PROCESS_RUNS = 5;

export interface IndexTimings {
  nodeStartup: RepeatedMeasurement;
  inspectProcess: RepeatedMeasurement;
  inspectInProcess: { seconds: number; firstSeconds: number; runs: number; tensors: number; parameters: number };
  dryRunProcess: RepeatedMeasurement | null;
}

export async function timeIndexOperations(cli: string, dir: string, instructDir: string, scratch: string, hasDryRun: boolean): Promise<IndexTimings> {
  const node = process.execPath;
  const nodeStartup = repeat(WHOLE_PROCESS_RUNS, () => timeProcess({ command: node, args: ['-e', '0'] }));
  const inspectProcess = repeat(WHOLE_PROCESS_RUNS, () => timeProcess({ command: node, args: [cli, 'inspect', dir, '--json'] }));
  const seconds: number[] = [];
  let tensors = 0;
  let parameters = 0;
  for (let index = 0; index < IN_PROCESS_RUNS; index++) {
    const start = performance.now();
    const result = await runInspect({ path: dir });
    seconds.push((performance.now() - start) / 1000);
    tensors = result.tensors.length;
    parameters = result.parameters;
  }
  const dryRunProcess = hasDryRun
    ? repeat(WHOLE_PROCESS_RUNS, (index) => timeProcess({
      command: node, args: [cli, 'compute', '--base', dir, '--instruct', instructDir, '--out', join(scratch, `dry-run-${index}`), '--dry-run', '--json'],
    }), { cleanup: (index) => removeQuietly(join(scratch, `dry-run-${index}`)) })
    : null;
  removeQuietly(scratch);
  return {
    nodeStartup,
    inspectProcess,
    inspectInProcess: { seconds: median(seconds), firstSeconds: seconds[0] ?? NaN, runs: IN_PROCESS_RUNS, tensors, parameters },
    dryRunProcess,
  };
}
