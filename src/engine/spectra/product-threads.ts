import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SurgeonError } from '../errors';

/** More threads than this only contend for memory bandwidth. */
const MAX_PRODUCT_THREADS = 8;

/**
 * Threads that share a matrix product, the calling one included: `CHECKPOINT_SURGEON_KERNEL_THREADS`
 * when set, else one per core up to the maximum. Unlike the elementwise kernels, which leave a core
 * to the file copies and hashing of a streaming job, the spectral pass does nothing else meanwhile.
 */
export function productThreads(env: NodeJS.ProcessEnv = process.env): number {
  const requested = Number.parseInt(env['CHECKPOINT_SURGEON_KERNEL_THREADS'] ?? '', 10);
  if (Number.isInteger(requested) && requested >= 1) return Math.min(requested, MAX_PRODUCT_THREADS);
  return Math.max(1, Math.min(availableParallelism(), MAX_PRODUCT_THREADS));
}

/** The block drivers of products.wat that threads share, each taking up to fourteen i32 arguments. */
export const BLOCK_DRIVERS = ['multiply_blocks', 'multiply_blocks_f64'] as const;
export type BlockDriver = typeof BLOCK_DRIVERS[number];
/** A driver's arguments, in its order (see products.wat); the last is the address of the claim counter. */
export type BlockArguments = readonly number[];
const ARGUMENT_COUNT = 14;

/** States of a helper's control word. */
const enum State { Starting = 0, Idle = 1, Work = 2, Done = 3, Failed = 4, Exit = 5 }
/**
 * The control block: the state word, the blocks the helper ran, the driver's index, then the job's
 * arguments (as unsigned words: addresses reach 4 GiB).
 */
const BLOCKS_RUN_OFFSET = 4;
const DRIVER_OFFSET = 8;
const ARGUMENTS_OFFSET = 12;
const CONTROL_BYTES = ARGUMENTS_OFFSET + ARGUMENT_COUNT * 4;
/** A block takes milliseconds; a helper silent this long has died (its error event cannot reach a blocked thread). */
const HELPER_TIMEOUT_MS = 60_000;

/**
 * The helper's program, evaluated from this string so that it runs the same under the bundles and under
 * tsx: it instantiates the products module on the shared memory and sleeps on its control word; given a
 * job, it claims blocks from the shared counter until none are left.
 */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, drivers } = workerData;
const products = new WebAssembly.Instance(module, { env: { memory } }).exports;
const state = new Int32Array(control, 0, 1);
const blocksRun = new Int32Array(control, ${BLOCKS_RUN_OFFSET}, 1);
const driver = new Int32Array(control, ${DRIVER_OFFSET}, 1);
const args = new Uint32Array(control, ${ARGUMENTS_OFFSET}, ${ARGUMENT_COUNT});
Atomics.store(state, 0, ${State.Idle});
for (;;) {
  Atomics.wait(state, 0, ${State.Idle});
  const current = Atomics.load(state, 0);
  if (current === ${State.Exit}) break;
  if (current !== ${State.Work}) continue;
  try {
    blocksRun[0] = products[drivers[driver[0]]](...args);
    Atomics.store(state, 0, ${State.Done});
  } catch {
    Atomics.store(state, 0, ${State.Failed});
  }
  Atomics.notify(state, 0);
}
`;

/**
 * Helper threads that run a block driver on the shared memory together with the calling thread.
 * Blocks are claimed from one counter in that memory, so a thread slowed by other work runs fewer; each
 * thread has its own block of the matrix and of the sums, so the result is the same whoever runs a block.
 */
export class ProductThreads {
  private readonly controls: SharedArrayBuffer[];
  private readonly threads: Worker[];

  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, helpers: number) {
    this.controls = Array.from({ length: helpers }, () => new SharedArrayBuffer(CONTROL_BYTES));
    this.threads = this.controls.map((control) => {
      const thread = new Worker(HELPER_SOURCE, { eval: true, workerData: { module, memory, control, drivers: BLOCK_DRIVERS } });
      // A helper sleeping on its control word must not keep the process alive.
      thread.unref();
      thread.on('error', () => Atomics.store(stateOf(control), 0, State.Failed));
      return thread;
    });
  }

  /** Helpers that have started and are free, by index; jobs go only to these, so nobody waits for a start-up. */
  readyHelpers(): number[] {
    return this.controls.flatMap((control, index) => (Atomics.load(stateOf(control), 0) === State.Idle ? [index] : []));
  }

  /**
   * Runs `driver` with `argumentsFor(thread)` on this thread (thread 0, through `runLocal`) and on
   * `helpers` (thread index + 1), and returns once every block is done, with the blocks each thread
   * ran (this one first, then `helpers` in order).
   */
  run(
    driver: BlockDriver, helpers: readonly number[], argumentsFor: (thread: number) => BlockArguments, runLocal: (args: BlockArguments) => number,
  ): number[] {
    for (const helper of helpers) this.start(helper, BLOCK_DRIVERS.indexOf(driver), argumentsFor(helper + 1));
    const blocksRun: number[] = [0];
    let failure: unknown;
    try {
      blocksRun[0] = runLocal(argumentsFor(0));
    } catch (error) {
      failure = error;
    }
    // Even when this thread failed, every helper must be done with the memory before anyone reuses it.
    for (const helper of helpers) {
      try {
        blocksRun.push(this.join(helper));
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
    return blocksRun;
  }

  dispose(): void {
    for (const control of this.controls) {
      Atomics.store(stateOf(control), 0, State.Exit);
      Atomics.notify(stateOf(control), 0);
    }
    for (const thread of this.threads) void thread.terminate();
  }

  private start(index: number, driver: number, args: BlockArguments): void {
    const control = this.controls[index]!;
    new Int32Array(control, DRIVER_OFFSET, 1)[0] = driver;
    new Uint32Array(control, ARGUMENTS_OFFSET, ARGUMENT_COUNT).set(args);
    Atomics.store(stateOf(control), 0, State.Work);
    Atomics.notify(stateOf(control), 0);
  }

  /** Blocks until helper `index` is done; returns how many blocks it ran. */
  private join(index: number): number {
    const control = this.controls[index]!;
    const state = stateOf(control);
    const deadline = Date.now() + HELPER_TIMEOUT_MS;
    while (Atomics.load(state, 0) === State.Work && Date.now() < deadline) Atomics.wait(state, 0, State.Work, HELPER_TIMEOUT_MS);
    if (Atomics.load(state, 0) !== State.Done) {
      throw new SurgeonError('kernel-memory', `matrix product thread ${index + 1} failed on its blocks of the shared memory`);
    }
    const blocksRun = new Int32Array(control, BLOCKS_RUN_OFFSET, 1)[0]!;
    Atomics.store(state, 0, State.Idle);
    return blocksRun;
  }
}

function stateOf(control: SharedArrayBuffer): Int32Array {
  return new Int32Array(control, 0, 1);
}
