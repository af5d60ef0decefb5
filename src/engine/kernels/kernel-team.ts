import { Worker } from 'node:worker_threads';
import { SurgeonError } from '../errors';

/** What the helper threads run: fused kernel exports with the (first, second, out, count) signature. */
export const TEAM_KERNELS = [
  'sub_bf16', 'sub_bf16_stats', 'sub_bf16_f32', 'sub_bf16_f32_stats', 'sub_f16', 'sub_f32', 'sub_f32_stats', 'add_bf16', 'add_bf16_f32',
] as const;
export type TeamKernel = typeof TEAM_KERNELS[number];

/** States of a helper's control word. */
const enum State { Starting = 0, Idle = 1, Work = 2, Done = 3, Failed = 4, Exit = 5 }
/** Control words: state, elements done, then the job: kernel index, three addresses, three element sizes, count, chunk. */
const enum Word { State = 0, Done = 1, Kernel = 2, First = 3, Second = 4, Out = 5, FirstSize = 6, SecondSize = 7, OutSize = 8, Count = 9, Chunk = 10 }
const CONTROL_WORDS = 11;
/** A job takes well under a second; a helper silent this long has died (its error event cannot reach a blocked thread). */
const HELPER_TIMEOUT_MS = 60_000;

/**
 * The helper thread's program, evaluated from this string so it runs the same under the bundles and
 * under tsx. It instantiates the kernels module on the shared memory with its own region, then sleeps
 * on its control word; given a job, it claims chunks from the shared cursor until none are left.
 */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, region, control, cursor, names } = workerData;
const kernels = new WebAssembly.Instance(module, { env: { memory, region } }).exports;
Atomics.store(control, ${Word.State}, ${State.Idle});
for (;;) {
  Atomics.wait(control, ${Word.State}, ${State.Idle});
  const state = Atomics.load(control, ${Word.State});
  if (state === ${State.Exit}) break;
  if (state !== ${State.Work}) continue;
  try {
    const kernel = kernels[names[control[${Word.Kernel}]]];
    const count = control[${Word.Count}], chunk = control[${Word.Chunk}];
    let done = 0;
    for (let start; (start = Atomics.add(cursor, 0, 1) * chunk) < count;) {
      const length = Math.min(chunk, count - start);
      kernel(control[${Word.First}] + start * control[${Word.FirstSize}], control[${Word.Second}] + start * control[${Word.SecondSize}],
        control[${Word.Out}] + start * control[${Word.OutSize}], length);
      done += length;
    }
    control[${Word.Done}] = done;
    Atomics.store(control, ${Word.State}, ${State.Done});
  } catch (error) {
    Atomics.store(control, ${Word.State}, ${State.Failed});
  }
  Atomics.notify(control, ${Word.State});
}
`;

export interface TeamJob {
  kernel: TeamKernel;
  addresses: readonly [number, number, number];
  /** Bytes per element of each address's operand. */
  sizes: readonly [number, number, number];
  count: number;
  /** Elements per claim: a multiple of every kernel's block, so results do not depend on who ran which chunk. */
  chunk: number;
}

/** How many elements each thread ran: the calling thread's, and per helper index. */
export interface TeamShares {
  local: number;
  helpers: Array<{ helper: number; elements: number }>;
}

/**
 * Helper threads that run a fused kernel over a range of the shared kernel memory together with the
 * calling thread. Every thread claims fixed-size chunks from one cursor until the range is done, so a
 * thread slowed by other work (I/O copies share the cores) simply runs fewer chunks. Each helper keeps
 * its statistics in its own memory region, which the caller reads afterwards.
 */
export class KernelTeam {
  private readonly controls: Int32Array[];
  private readonly cursor = new Int32Array(new SharedArrayBuffer(4));
  private readonly threads: Worker[];

  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, readonly regions: readonly number[]) {
    this.controls = regions.map(() => new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)));
    this.threads = regions.map((region, index) => {
      const thread = new Worker(HELPER_SOURCE, {
        eval: true,
        workerData: { module, memory, region, control: this.controls[index], cursor: this.cursor, names: TEAM_KERNELS },
      });
      // A helper sleeping on its control word must not keep the process alive.
      thread.unref();
      thread.on('error', () => Atomics.store(this.controls[index]!, Word.State, State.Failed));
      return thread;
    });
  }

  /** Helpers that have started and are free, by index; jobs go only to these, so nobody waits for a start-up. */
  readyHelpers(): number[] {
    return this.controls.flatMap((control, index) => (Atomics.load(control, Word.State) === State.Idle ? [index] : []));
  }

  /**
   * Runs `job` on `helpers` and on this thread (`runLocal`, given the same arguments a helper would
   * use), and returns once every chunk is done.
   */
  run(job: TeamJob, helpers: readonly number[], runLocal: (first: number, second: number, out: number, count: number) => void): TeamShares {
    Atomics.store(this.cursor, 0, 0);
    for (const helper of helpers) this.start(helper, job);
    let local = 0;
    let failure: unknown;
    try {
      for (let start; (start = Atomics.add(this.cursor, 0, 1) * job.chunk) < job.count;) {
        const length = Math.min(job.chunk, job.count - start);
        runLocal(job.addresses[0] + start * job.sizes[0], job.addresses[1] + start * job.sizes[1], job.addresses[2] + start * job.sizes[2], length);
        local += length;
      }
    } catch (error) {
      failure = error;
    }
    // Even when this thread failed, every helper must be done with the memory before anyone reuses it.
    const shares: TeamShares['helpers'] = [];
    for (const helper of helpers) {
      try {
        shares.push({ helper, elements: this.join(helper) });
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
    return { local, helpers: shares };
  }

  dispose(): void {
    for (const control of this.controls) {
      Atomics.store(control, Word.State, State.Exit);
      Atomics.notify(control, Word.State);
    }
    for (const thread of this.threads) void thread.terminate();
  }

  private start(index: number, job: TeamJob): void {
    const control = this.controls[index]!;
    control[Word.Kernel] = TEAM_KERNELS.indexOf(job.kernel);
    control.set([...job.addresses, ...job.sizes, job.count, job.chunk], Word.First);
    Atomics.store(control, Word.State, State.Work);
    Atomics.notify(control, Word.State);
  }

  /** Blocks until helper `index` is done; returns how many elements it ran. */
  private join(index: number): number {
    const control = this.controls[index]!;
    const deadline = Date.now() + HELPER_TIMEOUT_MS;
    while (Atomics.load(control, Word.State) === State.Work && Date.now() < deadline) {
      Atomics.wait(control, Word.State, State.Work, HELPER_TIMEOUT_MS);
    }
    if (Atomics.load(control, Word.State) !== State.Done) {
      throw new SurgeonError('kernel-memory', `kernel thread ${index + 1} failed on a range of the shared kernel memory`);
    }
    Atomics.store(control, Word.State, State.Idle);
    return control[Word.Done]!;
  }
}
