import { HelperThreads } from '../kernels/helper-threads';
import { kernelThreads } from '../kernels/wasm-kernels';

/**
 * Threads that share a matrix product, the calling one included: `CHECKPOINT_SURGEON_KERNEL_THREADS`
 * when set, else one per core (up to the kernels' maximum), as the spectral pass does nothing else meanwhile.
 */
export function productThreads(env: NodeJS.ProcessEnv = process.env): number {
  return kernelThreads(env, 0);
}

/** The block drivers of products.wat that threads share, each taking up to fourteen i32 arguments. */
export const BLOCK_DRIVERS = ['multiply_blocks', 'multiply_blocks_f64'] as const;
export type BlockDriver = typeof BLOCK_DRIVERS[number];
/** A driver's arguments, in its order (see products.wat); the last is the address of the claim counter. */
export type BlockArguments = readonly number[];
/** A job's words: the driver's index, then its arguments. */
const JOB_WORDS = 1 + 14;

/**
 * Each helper instantiates the products module on the shared memory; given a job, it runs the driver,
 * which claims blocks from the counter in that memory, and reports how many blocks it ran.
 */
const PRODUCT_PROGRAM = {
  setup: `
const { module, memory, drivers } = workerData;
const products = new WebAssembly.Instance(module, { env: { memory } }).exports;`,
  work: `
return products[drivers[job[0]]](...job.subarray(1));`,
};

/**
 * Helper threads that run a block driver on the shared memory together with the calling thread.
 * Blocks are claimed from one counter in that memory, so a thread slowed by other work runs fewer; each
 * thread has its own block of the matrix and of the sums, so the result is the same whoever runs a block.
 */
export class ProductThreads {
  private readonly threads: HelperThreads;

  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, helpers: number) {
    this.threads = new HelperThreads(helpers, PRODUCT_PROGRAM, JOB_WORDS, () => ({ module, memory, drivers: BLOCK_DRIVERS }));
  }

  /** Helpers that have started and are free, by index; jobs go only to these, so nobody waits for a start-up. */
  readyHelpers(): number[] {
    return this.threads.readyHelpers();
  }

  /**
   * Runs `driver` with `argumentsFor(thread)` on this thread (thread 0, through `runLocal`) and on
   * `helpers` (thread index + 1), and returns once every block is done, with the blocks each thread
   * ran (this one first, then `helpers` in order).
   */
  run(
    driver: BlockDriver, helpers: readonly number[], argumentsFor: (thread: number) => BlockArguments, runLocal: (args: BlockArguments) => number,
  ): number[] {
    const index = BLOCK_DRIVERS.indexOf(driver);
    const { local, helpers: blocks } = this.threads.run(helpers, (helper) => [index, ...argumentsFor(helper + 1)], () => runLocal(argumentsFor(0)));
    return [local, ...blocks];
  }

  dispose(): void {
    this.threads.dispose();
  }
}
