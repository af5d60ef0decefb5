import { HelperThreads } from './helper-threads';

/** What the helper threads run: fused kernel exports with the (first, second, out, count) signature. */
export const TEAM_KERNELS = [
  'sub_bf16', 'sub_bf16_stats', 'sub_bf16_f32', 'sub_bf16_f32_stats', 'sub_f16', 'sub_f32', 'sub_f32_stats', 'add_bf16', 'add_bf16_f32',
] as const;
export type TeamKernel = typeof TEAM_KERNELS[number];

/** A job's words: kernel index, three addresses, three element sizes, count, chunk. */
const enum Word { Kernel = 0, First = 1, Second = 2, Out = 3, FirstSize = 4, SecondSize = 5, OutSize = 6, Count = 7, Chunk = 8 }
const JOB_WORDS = 9;

/**
 * Each helper instantiates the kernels module on the shared memory with its own region; given a job,
 * it claims chunks from the shared cursor until none are left and reports how many elements it ran.
 */
const TEAM_PROGRAM = {
  setup: `
const { module, memory, region, cursor, names } = workerData;
const kernels = new WebAssembly.Instance(module, { env: { memory, region } }).exports;`,
  work: `
const kernel = kernels[names[job[${Word.Kernel}]]];
const count = job[${Word.Count}], chunk = job[${Word.Chunk}];
let done = 0;
for (let start; (start = Atomics.add(cursor, 0, 1) * chunk) < count;) {
  const length = Math.min(chunk, count - start);
  kernel(job[${Word.First}] + start * job[${Word.FirstSize}], job[${Word.Second}] + start * job[${Word.SecondSize}],
    job[${Word.Out}] + start * job[${Word.OutSize}], length);
  done += length;
}
return done;`,
};

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
  private readonly cursor = new Int32Array(new SharedArrayBuffer(4));
  private readonly threads: HelperThreads;

  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, readonly regions: readonly number[]) {
    this.threads = new HelperThreads(regions.length, TEAM_PROGRAM, JOB_WORDS, (index) => ({
      module, memory, region: regions[index], cursor: this.cursor, names: TEAM_KERNELS,
    }));
  }

  /** Helpers that have started and are free, by index; jobs go only to these, so nobody waits for a start-up. */
  readyHelpers(): number[] {
    return this.threads.readyHelpers();
  }

  /**
   * Runs `job` on `helpers` and on this thread (`runLocal`, given the same arguments a helper would
   * use), and returns once every chunk is done.
   */
  run(job: TeamJob, helpers: readonly number[], runLocal: (first: number, second: number, out: number, count: number) => void): TeamShares {
    Atomics.store(this.cursor, 0, 0);
    const words = [TEAM_KERNELS.indexOf(job.kernel), ...job.addresses, ...job.sizes, job.count, job.chunk];
    const { local, helpers: elements } = this.threads.run(helpers, () => words, () => {
      let done = 0;
      for (let start; (start = Atomics.add(this.cursor, 0, 1) * job.chunk) < job.count;) {
        const length = Math.min(job.chunk, job.count - start);
        runLocal(job.addresses[0] + start * job.sizes[0], job.addresses[1] + start * job.sizes[1], job.addresses[2] + start * job.sizes[2], length);
        done += length;
      }
      return done;
    });
    return { local, helpers: helpers.map((helper, index) => ({ helper, elements: elements[index]! })) };
  }

  dispose(): void {
    this.threads.dispose();
  }
}
