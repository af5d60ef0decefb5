/** Fixed regions of the WebAssembly kernels' memory; must match the layout comment in wasm/kernels.wat. */

/** Per-call statistics block (see kernels.wat for the field offsets). */
export const STATS_ADDRESS = 0;
export const STATS_SUM = 0;
export const STATS_SUM_SQUARES = 8;
export const STATS_BASE_SUM_SQUARES = 16;
export const STATS_OTHER_SUM_SQUARES = 24;
export const STATS_DOT = 32;
export const STATS_MIN = 40;
export const STATS_MAX = 44;
export const STATS_UNCHANGED = 48;
export const STATS_FINITE = 52;
export const STATS_TOUCHED = 56;
export const STATS_BYTES = 64;
/** compare reuses the statistics block. */
export const COMPARE_MAX_ABS_ERROR = 0;
export const COMPARE_IDENTICAL = 48;
export const COMPARE_NON_FINITE_MISMATCH = 52;
export const COMPARE_SIGNED_ZERO_ONLY = 56;

/** Every kernel processes whole groups of 8 elements (one 128-bit vector of 16-bit values). */
export const SIMD_GROUP = 8;
/** Zero-padded copies of a chunk tail (one group of up to 8-byte elements each). */
export const TAIL_FIRST_ADDRESS = 1024;
export const TAIL_SECOND_ADDRESS = 1088;
export const TAIL_OUT_ADDRESS = 1152;

/** Counters the driver reads; the kernels also count into a second copy at 720896, which `collect_touched` folds in. */
export const HISTOGRAM_ADDRESS = 65_536;
export const TOUCHED_KEYS_ADDRESS = 327_680;

/** Mixed-dtype kernels widen operands into binary32 blocks of this many elements (32 KiB, cache-resident). */
export const WASM_BLOCK_ELEMENTS = 8192;
export const SCRATCH_FIRST_ADDRESS = 589_824;
export const SCRATCH_SECOND_ADDRESS = SCRATCH_FIRST_ADDRESS + WASM_BLOCK_ELEMENTS * 4;
export const SCRATCH_RESULT_ADDRESS = SCRATCH_SECOND_ADDRESS + WASM_BLOCK_ELEMENTS * 4;

/** Each kernel thread's fixed regions above span this much from the thread's region address. */
export const REGION_BYTES = 1 << 20;
/**
 * Allocations start above the calling thread's region (at 0); helper threads' regions come from the heap.
 * @alias the same number as REGION_BYTES, for another reason
 */
export const HEAP_ADDRESS = REGION_BYTES;
export const WASM_PAGE_BYTES = 65_536;
/** wasm32 addresses 4 GiB; V8 in Node 20 allows a memory of up to 65536 pages. */
export const MAX_WASM_PAGES = 65_536;
