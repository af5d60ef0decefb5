import { Worker } from 'node:worker_threads';
import { SurgeonError } from '../errors';

/** States of a helper's control word. */
const enum State { Starting = 0, Idle = 1, Work = 2, Done = 3, Failed = 4, Exit = 5 }
/** A helper's control block: its state, the number its last job returned, then the job's words. */
const STATE_WORD = 0;
const RESULT_WORD = 1;
const JOB_WORD = 2;
/** A job takes well under a second; a helper silent this long has died (its error event cannot reach a blocked thread). */
const HELPER_TIMEOUT_MS = 60_000;

/**
 * What a helper runs, as JavaScript source, evaluated in the helper so that it runs the same under the
 * bundles and under tsx. `setup` runs once, with `workerData` in scope; `work` is the body of a function
 * run per job, with `job` (an Int32Array of the job's words) in scope, returning the number to report.
 */
export interface HelperProgram {
  setup: string;
  work: string;
}

function helperSource(program: HelperProgram, jobWords: number): string {
  return `
const { workerData } = require('node:worker_threads');
const control = workerData.control;
const job = control.subarray(${JOB_WORD}, ${JOB_WORD + jobWords});
${program.setup}
const work = () => {
${program.work}
};
Atomics.store(control, ${STATE_WORD}, ${State.Idle});
for (;;) {
  Atomics.wait(control, ${STATE_WORD}, ${State.Idle});
  const state = Atomics.load(control, ${STATE_WORD});
  if (state === ${State.Exit}) break;
  if (state !== ${State.Work}) continue;
  try {
    control[${RESULT_WORD}] = work();
    Atomics.store(control, ${STATE_WORD}, ${State.Done});
  } catch {
    Atomics.store(control, ${STATE_WORD}, ${State.Failed});
  }
  Atomics.notify(control, ${STATE_WORD});
}
`;
}

/**
 * Threads that sleep on a control word in shared memory until the calling thread hands them a job of
 * `jobWords` 32-bit words, run it alongside the calling thread and report one number back. The kernel
 * team and the matrix products share the calling thread's WebAssembly memory with them this way.
 */
export class HelperThreads {
  private readonly controls: Int32Array[];
  private readonly threads: Worker[];

  /** `workerData(index)` is what helper `index` finds in `workerData` besides its `control`. */
  constructor(count: number, program: HelperProgram, private readonly jobWords: number, workerData: (index: number) => Record<string, unknown>) {
    const source = helperSource(program, jobWords);
    this.controls = Array.from({ length: count }, () => new Int32Array(new SharedArrayBuffer((JOB_WORD + jobWords) * 4)));
    this.threads = this.controls.map((control, index) => {
      const thread = new Worker(source, { eval: true, workerData: { ...workerData(index), control } });
      // A helper sleeping on its control word must not keep the process alive.
      thread.unref();
      thread.on('error', () => Atomics.store(control, STATE_WORD, State.Failed));
      return thread;
    });
  }

  /** Helpers that have started and are free, by index; jobs go only to these, so nobody waits for a start-up. */
  readyHelpers(): number[] {
    return this.controls.flatMap((control, index) => (Atomics.load(control, STATE_WORD) === State.Idle ? [index] : []));
  }

  /**
   * Starts each of `helpers` on `jobFor(helper)`, runs `local` on this thread, and returns once every
   * helper is done, with what `local` returned and each helper's number, in the order of `helpers`.
   * Even when `local` throws, every helper is waited for: the memory they use must be free before anyone
   * reuses it.
   */
  run<T>(helpers: readonly number[], jobFor: (helper: number) => readonly number[], local: () => T): { local: T; helpers: number[] } {
    for (const helper of helpers) this.start(helper, jobFor(helper));
    let failure: unknown;
    let localResult: T | undefined;
    try {
      localResult = local();
    } catch (error) {
      failure = error;
    }
    const results: number[] = [];
    for (const helper of helpers) {
      try {
        results.push(this.join(helper));
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
    return { local: localResult as T, helpers: results };
  }

  dispose(): void {
    for (const control of this.controls) {
      Atomics.store(control, STATE_WORD, State.Exit);
      Atomics.notify(control, STATE_WORD);
    }
    for (const thread of this.threads) void thread.terminate();
  }

  private start(index: number, job: readonly number[]): void {
    const control = this.controls[index]!;
    if (job.length > this.jobWords) throw new SurgeonError('usage', `a helper job has ${this.jobWords} words, not ${job.length}`);
    control.set(job, JOB_WORD);
    Atomics.store(control, STATE_WORD, State.Work);
    Atomics.notify(control, STATE_WORD);
  }

  /** Blocks until helper `index` is done; returns the number its job reported. */
  private join(index: number): number {
    const control = this.controls[index]!;
    const deadline = Date.now() + HELPER_TIMEOUT_MS;
    while (Atomics.load(control, STATE_WORD) === State.Work && Date.now() < deadline) {
      Atomics.wait(control, STATE_WORD, State.Work, HELPER_TIMEOUT_MS);
    }
    if (Atomics.load(control, STATE_WORD) !== State.Done) {
      throw new SurgeonError('kernel-memory', `helper thread ${index + 1} failed on its part of the shared memory`);
    }
    Atomics.store(control, STATE_WORD, State.Idle);
    return control[RESULT_WORD]!;
  }
}
