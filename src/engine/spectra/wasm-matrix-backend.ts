import { SurgeonError } from '../errors';
import { checkProductShape, type MatrixBackend } from './matrix-backend';
import { PRODUCTS_WASM_BASE64 } from './wasm/products.wasm';

interface ProductExports {
  memory: WebAssembly.Memory;
  multiply_accumulate(
    a: number, aRowStride: number, aDepthStride: number, b: number, c: number, rows: number, depth: number, width: number,
  ): void;
}

/** Rows of the result and steps of the shared dimension that one call of the kernel covers. */
export interface ProductBlock {
  rows: number;
  depth: number;
}

/**
 * Blocks of a @ b and of a^T @ b, each 1 MiB of a at the defaults, copied into the module's memory
 * (and b once per product). For a @ b a block is 64 whole rows of a, whose sums stay in registers
 * and L1 while b streams past. For a^T @ b it is 512 segments of stored rows against 512 rows of the
 * result (320 KB of sums at n = 80): 12.4 GFLOP/s for an 8192 x 4096 matrix by a 74-column panel,
 * against 9.3 with 4096 rows of 64 steps, whose 2.6 MB of sums left L2.
 */
export interface ProductBlocks {
  direct: ProductBlock;
  transposed: ProductBlock;
}

export const DEFAULT_PRODUCT_BLOCKS: ProductBlocks = {
  direct: { rows: 64, depth: 4096 },
  transposed: { rows: 512, depth: 512 },
};

/** The kernel takes columns of the result eight at a time; b and the sums are padded to this. */
const COLUMN_GROUP = 8;
const WASM_PAGE_BYTES = 65_536;

let compiledModule: WebAssembly.Module | undefined;

/**
 * Products in WebAssembly SIMD (wasm/products.wat): binary32 operands, binary64 sums added in the
 * plain-JavaScript backend's order, so the results are the same bits at about fifteen times the
 * speed on one thread. Each backend owns its module memory, which grows to the largest product it
 * has run: the padded b plus a block of a and of the sums.
 */
export function createWasmMatrixBackend(blocks: ProductBlocks = DEFAULT_PRODUCT_BLOCKS): MatrixBackend {
  compiledModule ??= new WebAssembly.Module(Buffer.from(PRODUCTS_WASM_BASE64, 'base64'));
  const kernel = new WebAssembly.Instance(compiledModule).exports as unknown as ProductExports;
  return {
    name: 'wasm-simd',
    provider: 'WebAssembly SIMD',
    matmul: async (a, aShape, b, bShape, transposeA = false) => {
      const { m, k, n } = checkProductShape(a, aShape, b, bShape, transposeA);
      return multiply(kernel, a, b, m, k, n, transposeA, transposeA ? blocks.transposed : blocks.direct);
    },
  };
}

/** op(a) (m x k) @ b (k x n), op(a) = a stored (m x k), or a^T with a stored (k x m). */
function multiply(
  kernel: ProductExports, a: Float32Array, b: Float32Array, m: number, k: number, n: number, transposeA: boolean, block: ProductBlock,
): Float32Array {
  const out = new Float32Array(m * n);
  if (m === 0 || n === 0 || k === 0) return out;
  const width = roundUp(n, COLUMN_GROUP);
  const blockRows = Math.min(roundUp(block.rows, 2), roundUp(m, 2));
  const blockDepth = Math.min(Math.max(1, block.depth), k);
  // Layout: the block of sums (f64, first so that it is 8-byte aligned), the padded b, the block of a.
  const sumsAddress = 0;
  const bAddress = sumsAddress + blockRows * width * Float64Array.BYTES_PER_ELEMENT;
  const aAddress = bAddress + k * width * Float32Array.BYTES_PER_ELEMENT;
  ensureMemory(kernel.memory, aAddress + blockRows * blockDepth * Float32Array.BYTES_PER_ELEMENT);
  const memory = kernel.memory.buffer;
  const sums = new Float64Array(memory, sumsAddress, blockRows * width);
  const padded = new Float32Array(memory, bAddress, k * width);
  const aBlock = new Float32Array(memory, aAddress, blockRows * blockDepth);
  // Padding columns and rows hold whatever the last product left: they only reach sums that are never read.
  if (width === n) padded.set(b);
  else for (let p = 0; p < k; p++) padded.set(b.subarray(p * n, p * n + n), p * width);

  for (let rowStart = 0; rowStart < m; rowStart += blockRows) {
    const rows = Math.min(blockRows, m - rowStart);
    const evenRows = roundUp(rows, 2);
    sums.fill(0, 0, evenRows * width);
    for (let depthStart = 0; depthStart < k; depthStart += blockDepth) {
      const depth = Math.min(blockDepth, k - depthStart);
      const bBlock = bAddress + depthStart * width * Float32Array.BYTES_PER_ELEMENT;
      if (transposeA) {
        // Depth-major: row p of the block is a segment of stored row p.
        for (let p = 0; p < depth; p++) {
          const from = (depthStart + p) * m + rowStart;
          aBlock.set(a.subarray(from, from + rows), p * blockRows);
        }
        kernel.multiply_accumulate(aAddress, 4, blockRows * 4, bBlock, sumsAddress, evenRows, depth, width);
      } else {
        for (let row = 0; row < rows; row++) {
          const from = (rowStart + row) * k + depthStart;
          aBlock.set(a.subarray(from, from + depth), row * depth);
        }
        kernel.multiply_accumulate(aAddress, depth * 4, 4, bBlock, sumsAddress, evenRows, depth, width);
      }
    }
    // Storing binary64 into a Float32Array rounds to nearest even, as Float32Array.from does in the JS backend.
    for (let row = 0; row < rows; row++) out.set(sums.subarray(row * width, row * width + n), (rowStart + row) * n);
  }
  return out;
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

function ensureMemory(memory: WebAssembly.Memory, bytes: number): void {
  const pages = Math.ceil(bytes / WASM_PAGE_BYTES);
  const current = memory.buffer.byteLength / WASM_PAGE_BYTES;
  if (pages <= current) return;
  try {
    memory.grow(pages - current);
  } catch (error) {
    throw new SurgeonError('kernel-memory', `a matrix product would need ${bytes} bytes of WebAssembly memory: ${String(error)}`);
  }
}
