import { SurgeonError } from '../errors';
import { MAX_WASM_PAGES, WASM_PAGE_BYTES } from '../kernels/wasm-layout';
import { checkProductShape, type MatrixBackend } from './matrix-backend';
import { productThreads, ProductThreads, type BlockArguments } from './product-threads';
import { PRODUCTS_WASM_BASE64 } from './wasm/products.wasm';

interface ProductExports {
  /** Returns how many blocks the calling thread ran. */
  multiply_blocks(...args: BlockArguments): number;
}

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

export const DEFAULT_PRODUCT_BLOCKS: ProductBlocks = {
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

let compiledModule: WebAssembly.Module | undefined;

/**
 * Products in WebAssembly SIMD (wasm/products.wat): binary32 operands, binary64 sums added in the
 * plain-JavaScript backend's order, so the results are the same bits, at about fifteen times the
 * speed on one thread, shared by several threads on a shared memory. The spectral pass reads each
 * delta straight into `matrixStorage`, in that memory; a product of any other array copies it in
 * first, beside the lent one. The memory grows to the largest product run and goes with the backend.
 */
export function createWasmMatrixBackend(options: WasmMatrixBackendOptions = {}): WasmMatrixBackend {
  return new WasmMatrixBackend(options.blocks ?? DEFAULT_PRODUCT_BLOCKS, options.threads ?? productThreads());
}

export class WasmMatrixBackend implements MatrixBackend {
  readonly name = 'wasm-simd';
  readonly provider: string;
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
    // After the lent matrix: a copy of a unless a is that matrix, the padded b (which an odd last block
    // of a @ b reads one row of a past the matrix into), the result, and per thread a block of a and
    // a block of the sums.
    const copyAddress = align(MATRIX_ADDRESS + this.matrixCapacity);
    const aAddress = inPlace ? MATRIX_ADDRESS : copyAddress;
    const bAddress = inPlace ? copyAddress : align(copyAddress + a.byteLength);
    const outAddress = align(bAddress + k * width * 4);
    const threadsAddress = align(outAddress + m * n * 4);
    const tileBytes = align(transposeA ? blockRows * blockDepth * 4 : 0);
    const threadBytes = tileBytes + align(blockRows * width * 8);
    const threads = this.readyThreads();
    this.ensureBytes(threadsAddress + threads * threadBytes);

    const memory = this.memory.buffer;
    if (!inPlace) new Float32Array(memory, copyAddress, a.length).set(a);
    const padded = new Float32Array(memory, bAddress, k * width);
    // Padding columns hold whatever the last product left: they only reach sums that are never read.
    if (width === n) padded.set(b);
    else for (let p = 0; p < k; p++) padded.set(b.subarray(p * n, p * n + n), p * width);
    Atomics.store(new Int32Array(memory, CURSOR_ADDRESS, 1), 0, 0);

    const argumentsFor = (thread: number): BlockArguments => {
      const tile = threadsAddress + thread * threadBytes;
      return [aAddress, bAddress, outAddress, m, k, n, width, transposeA ? 1 : 0, blockRows, blockDepth, tile, tile + tileBytes, CURSOR_ADDRESS];
    };
    const runLocal = (args: BlockArguments): number => this.exports.multiply_blocks(...args);
    const ready = this.helpers?.readyHelpers().slice(0, threads - 1) ?? [];
    this.lastBlocksRun = this.helpers === undefined || ready.length === 0
      ? [runLocal(argumentsFor(0))]
      : this.helpers.run(ready, argumentsFor, runLocal);
    return new Float32Array(memory, outAddress, m * n).slice();
  }

  async dispose(): Promise<void> {
    this.helpers?.dispose();
  }

  private ensureMatrixCapacity(bytes: number): void {
    if (bytes <= this.matrixCapacity) return;
    this.ensureBytes(MATRIX_ADDRESS + bytes);
    this.matrixCapacity = align(bytes);
  }

  private ensureBytes(bytes: number): void {
    const pages = Math.ceil(bytes / WASM_PAGE_BYTES);
    const current = this.memory.buffer.byteLength / WASM_PAGE_BYTES;
    if (pages <= current) return;
    try {
      if (pages > MAX_WASM_PAGES) throw new RangeError('more than WebAssembly\'s 4 GiB');
      this.memory.grow(pages - current);
    } catch (error) {
      throw new SurgeonError('kernel-memory', `a matrix product would need ${bytes} bytes of WebAssembly memory: ${String(error)}`);
    }
  }
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

function align(bytes: number): number {
  return roundUp(bytes, REGION_ALIGNMENT);
}
