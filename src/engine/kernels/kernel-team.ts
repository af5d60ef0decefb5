import { Worker } from 'node:worker_threads';
import { SurgeonError } from '../errors';

/** What one helper thread runs: a fused kernel export with the (first, second, out, count) signature. */
export const TEAM_KERNELS = ['sub_bf16', 'sub_bf16_stats', 'sub_bf16_f32', 'sub_f16', 'sub_f32', 'sub_f32_stats', 'add_bf16', 'add_f32'] as const;
export type TeamKernel = typeof TEAM_KERNELS[number];

/** States of a helper's control word. */
const enum State { Starting = 0, Idle = 1, Work = 2, Done = 3, Failed = 4, Exit = 5 }
/** Control words: state, kernel index, four arguments. */
const CONTROL_WORDS = 6;
/** A part takes well under a second; a helper silent this long has died (its error event cannot reach a blocked thread). */
const HELPER_TIMEOUT_MS = 60_000;

/**
 * The helper thread's program, evaluated from this string so it runs the same under the bundles and
 * under tsx. It instantiates the kernels module on the shared memory with its own region and then
 * sleeps on its control word until the main thread hands it a range.
 */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, region, control, names } = workerData;
const kernels = new WebAssembly.Instance(module, { env: { memory, region } }).exports;
Atomics.store(control, 0, ${State.Idle});
for (;;) {
  Atomics.wait(control, 0, ${State.Idle});
  const state = Atomics.load(control, 0);
  if (state === ${State.Exit}) break;
  if (state !== ${State.Work}) continue;
  try {
    kernels[names[control[1]]](control[2], control[3], control[4], control[5]);
    Atomics.store(control, 0, ${State.Done});
  } catch (error) {
    Atomics.store(control, 0, ${State.Failed});
  }
  Atomics.notify(control, 0);
}
`;

export interface TeamPart {
  kernel: TeamKernel;
  args: [number, number, number, number];
}

/**
 * Helper threads that run fused kernels on parts of a range in the shared kernel memory while the
 * calling thread runs its own part: the elementwise work of a piece spread over the cores. Each helper
 * keeps its statistics in its own memory region, which the caller reads afterwards.
 */
export class KernelTeam {
  private readonly controls: Int32Array[];
  private readonly threads: Worker[];

  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, readonly regions: readonly number[]) {
    this.controls = regions.map(() => new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)));
    this.threads = regions.map((region, index) => {
      const thread = new Worker(HELPER_SOURCE, {
        eval: true,
        workerData: { module, memory, region, control: this.controls[index], names: TEAM_KERNELS },
      });
      // A helper sleeping on its control word must not keep the process alive.
      thread.unref();
      thread.on('error', () => Atomics.store(this.controls[index]!, 0, State.Failed));
      return thread;
    });
  }

  /** Helpers that have started and are free, by index; parts go only to these, so nobody waits for a start-up. */
  readyHelpers(): number[] {
    return this.controls.flatMap((control, index) => (Atomics.load(control, 0) === State.Idle ? [index] : []));
  }

  /** Hands `part` to helper `index`; `await` it with `join`. */
  start(index: number, part: TeamPart): void {
    const control = this.controls[index]!;
    control[1] = TEAM_KERNELS.indexOf(part.kernel);
    control.set(part.args, 2);
    Atomics.store(control, 0, State.Work);
    Atomics.notify(control, 0);
  }

  /** Blocks until helper `index` finished its part. */
  join(index: number): void {
    const control = this.controls[index]!;
    const deadline = Date.now() + HELPER_TIMEOUT_MS;
    while (Atomics.load(control, 0) === State.Work && Date.now() < deadline) Atomics.wait(control, 0, State.Work, HELPER_TIMEOUT_MS);
    const state = Atomics.load(control, 0);
    if (state !== State.Done) {
      throw new SurgeonError('kernel-memory', `kernel thread ${index + 1} failed on a range of the shared kernel memory`);
    }
    Atomics.store(control, 0, State.Idle);
  }

  dispose(): void {
    for (const control of this.controls) {
      Atomics.store(control, 0, State.Exit);
      Atomics.notify(control, 0);
    }
    for (const thread of this.threads) void thread.terminate();
  }
}
