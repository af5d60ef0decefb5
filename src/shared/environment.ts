/**
 * The environment variables the engine reads, and the limit on its kernel threads: one definition for
 * the engine (which reads them), the extension (which sets them for its job worker from its settings)
 * and the docs. Pure, with no Node imports.
 */
export const SURGEON_ENV = {
  /** `auto`, `wasm` or `js`: the kernels a job runs on (the extension's `computeBackend` setting). */
  backend: 'CHECKPOINT_SURGEON_BACKEND',
  /** Threads that share the WebAssembly kernels and the built-in spectral products (the `workerThreads` setting). */
  kernelThreads: 'CHECKPOINT_SURGEON_KERNEL_THREADS',
  /** `off`: reads and writes through the page cache; `always`: every input read around it. */
  directIo: 'CHECKPOINT_SURGEON_DIRECT_IO',
  /** The folder of the digest cache, or `off`. */
  cache: 'CHECKPOINT_SURGEON_CACHE',
} as const;

/**
 * More kernel threads than this only contend for memory bandwidth: the engine caps
 * `CHECKPOINT_SURGEON_KERNEL_THREADS` here, and the `checkpointSurgeon.workerThreads` setting's maximum is this.
 */
export const MAX_KERNEL_THREADS = 8;
