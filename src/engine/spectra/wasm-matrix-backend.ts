import { growMemoryTo } from '../kernels/wasm-heap';
import { MAX_WASM_PAGES } from '../kernels/wasm-layout';
import { checkProductShape, type Float64Products, type MatrixBackend } from './matrix-backend';
import { productThreads, ProductThreads, type BlockArguments, type BlockDriver } from './product-threads';
import { PRODUCTS_WASM_BASE64 } from './wasm/products.wasm';

/** The block drivers; each returns how many blocks the calling thread ran. */
type ProductExports = Record<BlockDriver, (...args: BlockArguments) => number>;

/** Rows of the result and steps of the shared dimension that one call of the kernel covers. */
export interface ProductBlock {
  rows: number;
  depth: number;
}

/**
 * Blocks of a @ b and of a^T @ b. For a @ b a block is 64 rows of a, read in place, whose sums stay in
 * registers and L1 while b streams past. For a^T @ b it is 512 segments of stored rows, copied into
 * the thread's 1 MiB block, against 512 rows of the result (320 KB of sums at n = 80): 12.4 GFLOP/s
 * for an 8192 x 4096 matrix by a 74-column panel on one thread, against 9.3 with 4096 rows of 64
 * steps, whose 2.6 MB of sums left L2, and 9.1 reading the segments in place.
 */
export interface ProductBlocks {
  direct: ProductBlock;
  transposed: ProductBlock;
}

const DEFAULT_PRODUCT_BLOCKS: ProductBlocks = {
  direct: { rows: 64, depth: 4096 },
  transposed: { rows: 512, depth: 512 },
};

export interface WasmMatrixBackendOptions {
  blocks?: ProductBlocks;
  /** Threads that share a product, this one included (default: productThreads()). */
  threads?: number;
}

/** The kernel takes columns of the result eight at a time; b and the sums are padded to this. */
const COLUMN_GROUP = 8;
/** Regions start on cache lines, so that no two threads write one line. */
const REGION_ALIGNMENT = 64;
/** The counter threads claim blocks from, alone on its cache line; the matrix follows. */
const CURSOR_ADDRESS = 0;
const MATRIX_ADDRESS = REGION_ALIGNMENT;
/**
 * Blocks of the f64 products: A^T B of block Gram-Schmidt has 32 steps, so a pair of result rows
 * (64 KB of sums for 4096 columns) is a block; A B^T streams 8 rows of the later columns against
 * 512 steps of the 32-column block at a time (128 KB).
 */
const F64_BLOCK_ROWS = 8;
const F64_BLOCK_DEPTH = 512;

let compiledModule: WebAssembly.Module | undefined;

/**
 * Products in WebAssembly SIMD (wasm/products.wat): binary32 operands, binary64 sums added in the
 * plain-JavaScript backend's order, so the results are the same bits, at about fifteen times the
 * speed on one thread, shared by several threads on a shared memory; and the f64 products of block
 * Gram-Schmidt, with the bits of plain loops. The spectral pass reads each
 * delta straight into `matrixStorage`, in that memory; a product of any other array copies it in
 * first, beside the lent one. The memory grows to the largest product run and goes with the backend.
 */
export function createWasmMatrixBackend(options: WasmMatrixBackendOptions = {}): WasmMatrixBackend {
  return new WasmMatrixBackend(options.blocks ?? DEFAULT_PRODUCT_BLOCKS, options.threads ?? productThreads());
}

export class WasmMatrixBackend implements MatrixBackend {
  readonly name = 'wasm-simd';
  readonly provider: string;
  readonly f64: Float64Products = {
    timesTransposed: async (a, m, b, n, k) => this.timesTransposed(a, m, b, n, k),
    minusTransposedTimes: async (y, a, b, k, m, n) => this.minusTransposedTimes(y, a, b, k, m, n),
  };
  private readonly memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_WASM_PAGES, shared: true });
  private readonly exports: ProductExports;
  private readonly helpers: ProductThreads | undefined;
  private matrixCapacity = 0;
  /** The array last handed out by matrixStorage: products of it need no copy. */
  private lent: Float32Array | undefined;
  /** Blocks each thread ran in the last product, the calling thread first (for tests and benchmarks). */
  lastBlocksRun: readonly number[] = [];

  constructor(private readonly blocks: ProductBlocks, threads: number) {
    this.provider = `WebAssembly SIMD, ${threads} ${threads === 1 ? 'thread' : 'threads'}`;
    compiledModule ??= new WebAssembly.Module(Buffer.from(PRODUCTS_WASM_BASE64, 'base64'));
    this.exports = new WebAssembly.Instance(compiledModule, { env: { memory: this.memory } }).exports as unknown as ProductExports;
    this.helpers = threads > 1 ? new ProductThreads(compiledModule, this.memory, threads - 1) : undefined;
  }

  /** This thread and the helper threads that have started: those that would share a product now. */
  readyThreads(): number {
    return 1 + (this.helpers?.readyHelpers().length ?? 0);
  }

  matrixStorage(elements: number): Float32Array {
    this.ensureMatrixCapacity(elements * Float32Array.BYTES_PER_ELEMENT);
    this.lent = new Float32Array(this.memory.buffer, MATRIX_ADDRESS, elements);
    return this.lent;
  }

  async matmul(
    a: Float32Array, aShape: readonly [number, number], b: Float32Array, bShape: readonly [number, number], transposeA = false,
  ): Promise<Float32Array> {
    const { m, k, n } = checkProductShape(a, aShape, b, bShape, transposeA);
    if (m === 0 || n === 0 || k === 0) return new Float32Array(m * n);
    const inPlace = this.lent !== undefined && a.buffer === this.lent.buffer && a.byteOffset === MATRIX_ADDRESS;
    const block = transposeA ? this.blocks.transposed : this.blocks.direct;
    const width = roundUp(n, COLUMN_GROUP);
    const blockRows = Math.min(roundUp(Math.max(2, block.rows), 2), roundUp(m, 2));
    const blockDepth = Math.min(Math.max(1, block.depth), k);
    // A copy of a unless a is the lent matrix, then the padded b (which an odd last block of a @ b
    // reads one row of a past the matrix into), the result, and per thread a block of a and of the sums.
    const regions = this.temporaryRegions();
    const aAddress = inPlace ? MATRIX_ADDRESS : regions.take(a.byteLength);
    const bAddress = regions.take(k * width * 4);
    const outAddress = regions.take(m * n * 4);
    const tileBytes = align(transposeA ? blockRows * blockDepth * 4 : 0);
    const perThread = regions.perThread(tileBytes + blockRows * width * 8);

    const memory = this.memory.buffer;
    if (!inPlace) new Float32Array(memory, aAddress, a.length).set(a);
    copyPadded(b, k, n, new Float32Array(memory, bAddress, k * width), width);
    this.runBlocks('multiply_blocks', perThread.threads, (thread) => {
      const tile = perThread.address(thread);
      return [aAddress, bAddress, outAddress, m, k, n, width, transposeA ? 1 : 0, blockRows, blockDepth, tile, tile + tileBytes, CURSOR_ADDRESS];
    });
    return new Float32Array(this.memory.buffer, outAddress, m * n).slice();
  }

  async dispose(): Promise<void> {
    this.helpers?.dispose();
  }

  /**
   * a (m x k) @ b^T with b stored (n x k), as (b @ a^T)^T: b is copied as it lies and read by rows,
   * and a^T, the block of 32 columns, is the small operand the kernel takes eight columns of at a time.
   */
  private timesTransposed(a: Float64Array, m: number, b: Float64Array, n: number, k: number): Float64Array {
    const result = new Float64Array(m * n);
    if (m === 0 || n === 0 || k === 0) return result;
    const width = roundUp(m, COLUMN_GROUP);
    const blockRows = Math.min(F64_BLOCK_ROWS, roundUp(n, 2));
    const blockDepth = Math.min(F64_BLOCK_DEPTH, k);
    const regions = this.temporaryRegions();
    const bAddress = regions.take(b.byteLength);
    const aTransposedAddress = regions.take(k * width * 8);
    const outAddress = regions.take(n * m * 8);
    const perThread = regions.perThread(blockRows * width * 8);
    const memory = this.memory.buffer;
    new Float64Array(memory, bAddress, b.length).set(b);
    const aTransposed = new Float64Array(memory, aTransposedAddress, k * width);
    for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) aTransposed[p * width + i] = a[i * k + p]!;
    this.runBlocks('multiply_blocks_f64', perThread.threads, (thread) =>
      [bAddress, k * 8, 8, aTransposedAddress, outAddress, 0, n, k, m, width, blockRows, blockDepth, perThread.address(thread), CURSOR_ADDRESS]);
    const transposed = new Float64Array(this.memory.buffer, outAddress, n * m);
    for (let j = 0; j < n; j++) for (let i = 0; i < m; i++) result[i * n + j] = transposed[j * m + i]!;
    return result;
  }

  /**
   * y - a^T @ b with a stored (k x m), b (k x n) and y (m x n): each result starts at y and takes
   * away one term per step in ascending order, as a plain loop does, added as (-a) * b (negation is
   * exact, and x + (-t) is x - t). a^T is read with strides.
   */
  private minusTransposedTimes(y: Float64Array, a: Float64Array, b: Float64Array, k: number, m: number, n: number): Float64Array {
    if (m === 0 || n === 0 || k === 0) return y.slice(0, m * n);
    const width = roundUp(n, COLUMN_GROUP);
    const blockRows = Math.min(2, roundUp(m, 2));
    const regions = this.temporaryRegions();
    const aAddress = regions.take(a.byteLength);
    const bAddress = regions.take(k * width * 8);
    const outAddress = regions.take(m * n * 8);
    const perThread = regions.perThread(blockRows * width * 8);
    const memory = this.memory.buffer;
    const negated = new Float64Array(memory, aAddress, a.length);
    for (let i = 0; i < a.length; i++) negated[i] = -a[i]!;
    copyPadded(b, k, n, new Float64Array(memory, bAddress, k * width), width);
    new Float64Array(memory, outAddress, m * n).set(y.subarray(0, m * n));
    this.runBlocks('multiply_blocks_f64', perThread.threads, (thread) =>
      [aAddress, 8, m * 8, bAddress, outAddress, 1, m, k, n, width, blockRows, k, perThread.address(thread), CURSOR_ADDRESS]);
    return new Float64Array(this.memory.buffer, outAddress, m * n).slice();
  }

  /** A bump allocator over the memory after the lent matrix, for one product's operands and results. */
  private temporaryRegions(): TemporaryRegions {
    let end = align(MATRIX_ADDRESS + this.matrixCapacity);
    const take = (bytes: number): number => {
      const at = end;
      end = align(end + bytes);
      return at;
    };
    return {
      take,
      // Last, once the others are placed: grows the memory to hold them all.
      perThread: (bytes) => {
        const threads = this.readyThreads();
        const stride = align(bytes);
        const first = take(threads * stride);
        this.ensureBytes(end);
        return { threads, address: (thread) => first + thread * stride };
      },
    };
  }

  /** Runs `driver` on this thread and on up to `threads - 1` started helpers, claiming blocks from the counter. */
  private runBlocks(driver: BlockDriver, threads: number, argumentsFor: (thread: number) => BlockArguments): void {
    Atomics.store(new Int32Array(this.memory.buffer, CURSOR_ADDRESS, 1), 0, 0);
    const runLocal = (args: BlockArguments): number => this.exports[driver](...args);
    const ready = this.helpers?.readyHelpers().slice(0, threads - 1) ?? [];
    this.lastBlocksRun = this.helpers === undefined || ready.length === 0
      ? [runLocal(argumentsFor(0))]
      : this.helpers.run(driver, ready, argumentsFor, runLocal);
  }

  private ensureMatrixCapacity(bytes: number): void {
    if (bytes <= this.matrixCapacity) return;
    this.ensureBytes(MATRIX_ADDRESS + bytes);
    this.matrixCapacity = align(bytes);
  }

  private ensureBytes(bytes: number): void {
    growMemoryTo(this.memory, bytes, { user: 'a matrix product', memory: 'the matrix products\' memory' });
  }
}

interface TemporaryRegions {
  /** The address of `bytes` more, on a cache line. */
  take(bytes: number): number;
  /** `bytes` for each thread that will share the product; call last. */
  perThread(bytes: number): { threads: number; address(thread: number): number };
}

/**
 * Rows (k x n) of `source` into `target` with rows of `width`; the padding keeps whatever the last
 * product left, which only reaches sums that are never read.
 */
function copyPadded<T extends Float32Array | Float64Array>(source: T, k: number, n: number, target: T, width: number): void {
  if (width === n) target.set(source.subarray(0, k * n));
  else for (let p = 0; p < k; p++) target.set(source.subarray(p * n, p * n + n), p * width);
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

function align(bytes: number): number {
  return roundUp(bytes, REGION_ALIGNMENT);
}
