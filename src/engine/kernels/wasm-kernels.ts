/**
 * The WebAssembly SIMD kernels (wasm/kernels.wat). Common dtype combinations run as one fused pass; the
 * others widen their operands block by block into binary32 scratch, compute, and narrow. Element counts
 * that are not a multiple of the SIMD group go through zero-padded copies, so no kernel reads or writes
 * past a buffer, and their statistics are added in JavaScript. The memory is shared, so large fused calls
 * can be run by helper threads too (kernel-team.ts).
 */
import { availableParallelism } from 'node:os';
import { MAX_KERNEL_THREADS, SURGEON_ENV } from '../../shared/environment';
import { SurgeonError } from '../errors';
import type { Dtype, FloatDtype } from '../format/dtype';
import type { CompareAccumulator } from './compare-accumulator';
import { accumulateDeltas, addTotals, type DeltaStatistics } from './delta-statistics';
import { addScaledF64, compareF64, subtractF64 } from './float64-paths';
import { checkCount, checkOperand, checkViewRange, FLOAT_DTYPE_BYTES } from './kernel-arguments';
import type { ElementwiseKernels, Fp8ScaleGrid, KernelBuffer } from './kernel-types';
import type { Fp8Dtype } from '../numerics/float8';
import { checkDequantizeOperands, checkGridPiece, checkQuantizeOperands, FP8_FORMAT } from './fp8-arguments';
import { KernelTeam, type TeamKernel } from './kernel-team';
import { anyNonFiniteElement, EXPONENT_MASK } from './non-finite';
import { KERNELS_WASM_BASE64 } from './wasm/kernels.wasm';
import { WasmHeap } from './wasm-heap';
import {
  COMPARE_IDENTICAL, COMPARE_MAX_ABS_ERROR, COMPARE_NON_FINITE_MISMATCH, COMPARE_SIGNED_ZERO_ONLY, HISTOGRAM_ADDRESS,
  SCRATCH_FIRST_ADDRESS, SCRATCH_RESULT_ADDRESS, SCRATCH_SECOND_ADDRESS, SIMD_GROUP, STATS_ADDRESS, STATS_BASE_SUM_SQUARES, STATS_BYTES,
  STATS_DOT, STATS_FINITE, STATS_MAX, STATS_MIN, STATS_OTHER_SUM_SQUARES, STATS_SUM, STATS_SUM_SQUARES,
  STATS_TOUCHED, STATS_UNCHANGED, TAIL_FIRST_ADDRESS, TAIL_OUT_ADDRESS, TAIL_SECOND_ADDRESS, TOUCHED_KEYS_ADDRESS,
  WASM_BLOCK_ELEMENTS, REGION_BYTES, MAX_WASM_PAGES,
} from './wasm-layout';

/**
 * Fused calls of at least this many elements are shared with the kernel threads: below it the hand-off
 * (a few microseconds) is not worth it. The pipeline's 1 MiB pieces hold two to four times this.
 */
export const PARALLEL_MIN_ELEMENTS = 128 * 1024;
/**
 * Threads claim chunks of this many elements: small enough that a thread slowed by other work holds up
 * nobody, large enough that claiming costs nothing. A multiple of the statistics kernels' 128-element
 * binary32 blocks, so block sums are the same whichever thread runs a chunk.
 */
const TEAM_CHUNK_ELEMENTS = 16 * 1024;
/**
 * `CHECKPOINT_SURGEON_KERNEL_THREADS` (1 = only the calling thread), else one per core but `spareCores`,
 * up to the maximum. The elementwise kernels leave one core free for the file copies and the provenance
 * hashing (on 2 cores a second kernel thread measured 8% faster for diff and 10% slower for compute, whose
 * writes need that core); the spectral products, which run while nothing else does, leave none.
 */
export function kernelThreads(env: NodeJS.ProcessEnv = process.env, spareCores = 1): number {
  const requested = Number.parseInt(env[SURGEON_ENV.kernelThreads] ?? '', 10);
  if (Number.isInteger(requested) && requested >= 1) return Math.min(requested, MAX_KERNEL_THREADS);
  return Math.max(1, Math.min(availableParallelism() - spareCores, MAX_KERNEL_THREADS));
}

type Binary = (first: number, second: number, out: number, count: number) => void;

/** addScaled with alpha 1 onto a bfloat16 checkpoint, by the residual's dtype: one pass, no scratch. */
const FUSED_ADD_BF16: Partial<Record<FloatDtype, TeamKernel>> = { BF16: 'add_bf16', F32: 'add_bf16_f32' };
type Unary = (src: number, dst: number, count: number) => void;

interface KernelExports {
  memory: WebAssembly.Memory;
  sub_bf16: Binary;
  sub_bf16_stats: Binary;
  sub_bf16_f32: Binary;
  sub_bf16_f32_stats: Binary;
  sub_f16: Binary;
  sub_f32: Binary;
  sub_f32_stats: Binary;
  add_bf16: Binary;
  add_bf16_f32: Binary;
  add_f32: Binary;
  fma_f32: (c: number, r: number, alpha: number, out: number, count: number) => void;
  widen_bf16: Unary;
  widen_f16: Unary;
  narrow_bf16: Unary;
  narrow_f16: Unary;
  demote_f64: Unary;
  promote_f32: Unary;
  compare_f32: (x: number, y: number, count: number) => void;
  compare_bf16: (x: number, y: number, count: number) => void;
  collect_touched: () => void;
  any_non_finite_16: (src: number, count: number, mask: number) => number;
  any_non_finite_32: (src: number, count: number) => number;
  dequant_fp8: (src: number, dst: number, count: number, scale: number, format: number) => void;
  dequant_fp8_blocks: (
    src: number, dst: number, count: number, row: number, column: number, columns: number,
    scales: number, scaleColumns: number, blockRows: number, blockColumns: number, format: number,
  ) => void;
  quantize_e4m3_blocks: (
    src: number, dst: number, rows: number, columns: number,
    scales: number, scaleColumns: number, blockRows: number, blockColumns: number,
  ) => number;
}

let compiledModule: Promise<WebAssembly.Module> | undefined;

/** Compiles the module once per process (instances are cheap; each kernels object has its own memory). */
function compileKernelsModule(): Promise<WebAssembly.Module> {
  compiledModule ??= WebAssembly.compile(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  return compiledModule;
}

class WasmBuffer implements KernelBuffer {
  private cachedBytes: Uint8Array | undefined;
  constructor(
    readonly owner: WasmKernels, readonly allocation: number, readonly address: number, readonly byteLength: number,
  ) {}

  get bytes(): Uint8Array {
    const memory = this.owner.memoryBuffer();
    if (this.cachedBytes === undefined || this.cachedBytes.buffer !== memory) {
      this.cachedBytes = new Uint8Array(memory, this.address, this.byteLength);
    }
    return this.cachedBytes;
  }

  view(byteOffset: number, byteLength = this.byteLength - byteOffset): KernelBuffer {
    checkViewRange(this.byteLength, byteOffset, byteLength);
    return new WasmBuffer(this.owner, this.allocation, this.address + byteOffset, byteLength);
  }
}

/** Where a binary32 operand for one block lives: in place for F32, else widened into scratch. */
function widenedAddress(
  k: KernelExports, dtype: FloatDtype, address: number, scratch: number, count: number,
): number {
  switch (dtype) {
    case 'F32': return address;
    case 'BF16': k.widen_bf16(address, scratch, count); return scratch;
    case 'F16': k.widen_f16(address, scratch, count); return scratch;
    case 'F64': k.demote_f64(address, scratch, count); return scratch;
  }
}

function narrowInto(k: KernelExports, dtype: FloatDtype, src: number, address: number, count: number): void {
  switch (dtype) {
    case 'F32': if (src !== address) new Uint8Array(k.memory.buffer).copyWithin(address, src, src + count * 4); return;
    case 'BF16': k.narrow_bf16(src, address, count); return;
    case 'F16': k.narrow_f16(src, address, count); return;
    case 'F64': k.promote_f32(src, address, count); return;
  }
}

class WasmKernels implements ElementwiseKernels {
  readonly name = 'wasm-simd' as const;
  private readonly heap: WasmHeap;
  /** Started at the first call large enough to split; `null` when this process runs kernels on one thread. */
  private team: KernelTeam | null | undefined;
  /** Instances bound to each helper's region, for reading its statistics from this thread. */
  private helperViews: KernelExports[] = [];

  constructor(
    private readonly k: KernelExports, private readonly module: WebAssembly.Module, private readonly threads: number,
  ) {
    this.heap = new WasmHeap(k.memory);
    if (threads <= 1) this.team = null;
  }

  dispose(): void {
    this.team?.dispose();
    this.team = null;
  }

  activeThreads(): number {
    return 1 + (this.team?.readyHelpers().length ?? 0);
  }

  memoryBuffer(): ArrayBuffer {
    return this.k.memory.buffer;
  }

  allocate(byteLength: number): KernelBuffer {
    checkCount(byteLength);
    const address = this.heap.allocate(byteLength);
    return new WasmBuffer(this, address, address, byteLength);
  }

  free(buffer: KernelBuffer): void {
    const owned = this.addressOf(buffer);
    if (!(buffer instanceof WasmBuffer) || owned !== buffer.allocation) {
      throw new SurgeonError('usage', 'only a buffer returned by allocate() can be freed, not a view of one');
    }
    this.heap.release(buffer.allocation);
  }

  subtract(
    a: KernelBuffer, aDtype: Dtype, b: KernelBuffer, bDtype: Dtype,
    out: KernelBuffer, outDtype: Dtype, count: number, stats?: DeltaStatistics,
  ): void {
    checkCount(count);
    checkOperand('a', a, aDtype, count);
    checkOperand('b', b, bDtype, count);
    checkOperand('out', out, outDtype, count);
    const [aAddress, bAddress, outAddress] = [this.addressOf(a), this.addressOf(b), this.addressOf(out)];
    if (aDtype === 'F64' || bDtype === 'F64' || outDtype === 'F64') {
      subtractF64(a.bytes, aDtype, b.bytes, bDtype, out.bytes, outDtype, count, stats);
      return;
    }
    const main = count - (count % SIMD_GROUP);
    if (main > 0) {
      const fused = this.fusedSubtract(aDtype, bDtype, outDtype, stats !== undefined);
      const sizes = [FLOAT_DTYPE_BYTES[aDtype], FLOAT_DTYPE_BYTES[bDtype], FLOAT_DTYPE_BYTES[outDtype]] as const;
      if (fused !== undefined) {
        this.runFused(fused, [aAddress, bAddress, outAddress], sizes, main, stats);
      } else {
        if (stats !== undefined) this.resetStatistics();
        for (let start = 0; start < main; start += WASM_BLOCK_ELEMENTS) {
          const length = Math.min(WASM_BLOCK_ELEMENTS, main - start);
          this.subtractBlock(
            aAddress + start * sizes[0], aDtype, bAddress + start * sizes[1], bDtype,
            outAddress + start * sizes[2], outDtype, length, stats !== undefined,
          );
        }
        if (stats !== undefined) this.collectStatistics(stats, main);
      }
    }
    if (main < count) {
      this.runTail(count - main, [[a, aDtype, main], [b, bDtype, main]], [out, outDtype, main], (first, second, result) => {
        const widened = this.subtractBlock(first, aDtype, second, bDtype, result, outDtype, SIMD_GROUP, false);
        if (stats !== undefined) this.accumulateTail(stats, widened, count - main);
      });
    }
  }

  addScaled(
    c: KernelBuffer, cDtype: Dtype, r: KernelBuffer, rDtype: Dtype, alpha: number,
    out: KernelBuffer, outDtype: Dtype, count: number,
  ): void {
    checkCount(count);
    checkOperand('c', c, cDtype, count);
    checkOperand('r', r, rDtype, count);
    checkOperand('out', out, outDtype, count);
    const [cAddress, rAddress, outAddress] = [this.addressOf(c), this.addressOf(r), this.addressOf(out)];
    if (cDtype === 'F64' || rDtype === 'F64' || outDtype === 'F64') {
      addScaledF64(c.bytes, cDtype, r.bytes, rDtype, alpha, out.bytes, outDtype, count);
      return;
    }
    const alpha32 = Math.fround(alpha);
    const main = count - (count % SIMD_GROUP);
    if (main > 0) {
      const fused = alpha32 === 1 && cDtype === 'BF16' && outDtype === 'BF16' ? FUSED_ADD_BF16[rDtype] : undefined;
      if (fused !== undefined) {
        this.runFused(fused, [cAddress, rAddress, outAddress], [2, FLOAT_DTYPE_BYTES[rDtype], 2], main);
      } else {
        const sizes = [FLOAT_DTYPE_BYTES[cDtype], FLOAT_DTYPE_BYTES[rDtype], FLOAT_DTYPE_BYTES[outDtype]] as const;
        for (let start = 0; start < main; start += WASM_BLOCK_ELEMENTS) {
          const length = Math.min(WASM_BLOCK_ELEMENTS, main - start);
          this.addScaledBlock(
            cAddress + start * sizes[0], cDtype, rAddress + start * sizes[1], rDtype, alpha32,
            outAddress + start * sizes[2], outDtype, length,
          );
        }
      }
    }
    if (main < count) {
      this.runTail(count - main, [[c, cDtype, main], [r, rDtype, main]], [out, outDtype, main], (first, second, result) => {
        this.addScaledBlock(first, cDtype, second, rDtype, alpha32, result, outDtype, SIMD_GROUP);
      });
    }
  }

  convert(src: KernelBuffer, srcDtype: Dtype, out: KernelBuffer, outDtype: Dtype, count: number): void {
    checkCount(count);
    checkOperand('src', src, srcDtype, count);
    checkOperand('out', out, outDtype, count);
    const [srcAddress, outAddress] = [this.addressOf(src), this.addressOf(out)];
    const k = this.k;
    if (srcDtype === outDtype) {
      new Uint8Array(k.memory.buffer).copyWithin(outAddress, srcAddress, srcAddress + count * FLOAT_DTYPE_BYTES[srcDtype]);
      return;
    }
    const convertBlock = (from: number, to: number, length: number): void => {
      if (outDtype === 'F32') widenedAddress(k, srcDtype, from, to, length);
      else narrowInto(k, outDtype, widenedAddress(k, srcDtype, from, SCRATCH_RESULT_ADDRESS, length), to, length);
    };
    const main = count - (count % SIMD_GROUP);
    const [srcSize, outSize] = [FLOAT_DTYPE_BYTES[srcDtype], FLOAT_DTYPE_BYTES[outDtype]];
    for (let start = 0; start < main; start += WASM_BLOCK_ELEMENTS) {
      convertBlock(srcAddress + start * srcSize, outAddress + start * outSize, Math.min(WASM_BLOCK_ELEMENTS, main - start));
    }
    if (main < count) {
      this.runTail(count - main, [[src, srcDtype, main]], [out, outDtype, main], (first, _second, result) => {
        convertBlock(first, result, SIMD_GROUP);
      });
    }
  }

  anyNonFinite(buffer: KernelBuffer, dtype: Dtype, count: number): boolean {
    checkCount(count);
    checkOperand('buffer', buffer, dtype, count);
    const main = dtype === 'F64' ? 0 : count - (count % SIMD_GROUP);
    const address = this.addressOf(buffer);
    const found = dtype === 'F32' ? this.k.any_non_finite_32(address, main)
      : dtype === 'F64' ? 0 : this.k.any_non_finite_16(address, main, EXPONENT_MASK[dtype]);
    return found !== 0 || anyNonFiniteElement(buffer.bytes, dtype, main, count - main);
  }

  compare(
    x: KernelBuffer, xDtype: Dtype, y: KernelBuffer, yDtype: Dtype, count: number, acc: CompareAccumulator,
  ): void {
    checkCount(count);
    checkOperand('x', x, xDtype, count);
    checkOperand('y', y, yDtype, count);
    const [xAddress, yAddress] = [this.addressOf(x), this.addressOf(y)];
    if (xDtype === 'F64' || yDtype === 'F64') {
      compareF64(x.bytes, xDtype, y.bytes, yDtype, count, acc);
      return;
    }
    const k = this.k;
    this.resetStatistics();
    const compareBlock = (first: number, second: number, length: number): void => {
      k.compare_f32(
        widenedAddress(k, xDtype, first, SCRATCH_FIRST_ADDRESS, length),
        widenedAddress(k, yDtype, second, SCRATCH_SECOND_ADDRESS, length),
        length,
      );
    };
    const main = count - (count % SIMD_GROUP);
    const [xSize, ySize] = [FLOAT_DTYPE_BYTES[xDtype], FLOAT_DTYPE_BYTES[yDtype]];
    if (xDtype === 'BF16' && yDtype === 'BF16') {
      k.compare_bf16(xAddress, yAddress, main);
    } else {
      for (let start = 0; start < main; start += WASM_BLOCK_ELEMENTS) {
        compareBlock(xAddress + start * xSize, yAddress + start * ySize, Math.min(WASM_BLOCK_ELEMENTS, main - start));
      }
    }
    let padding = 0;
    if (main < count) {
      // Both tails are padded with zeros, which compare as identical: take those back out below.
      padding = SIMD_GROUP - (count - main);
      this.runTail(count - main, [[x, xDtype, main], [y, yDtype, main]], undefined, (first, second) => {
        compareBlock(first, second, SIMD_GROUP);
      });
    }
    const view = new DataView(k.memory.buffer, STATS_ADDRESS, STATS_BYTES);
    acc.count += count;
    acc.identical += view.getInt32(COMPARE_IDENTICAL, true) - padding;
    acc.maxAbsError = Math.max(acc.maxAbsError, view.getFloat64(COMPARE_MAX_ABS_ERROR, true));
    acc.nonFiniteMismatch += view.getInt32(COMPARE_NON_FINITE_MISMATCH, true);
    acc.signedZeroOnly += view.getInt32(COMPARE_SIGNED_ZERO_ONLY, true);
  }

  // The FP8 kernels run on the calling thread: decoding is cheap next to reading the bytes (docs/fp8.md).
  dequantizeFp8(src: KernelBuffer, srcDtype: Fp8Dtype, out: KernelBuffer, count: number, scale: number): void {
    checkDequantizeOperands(src, srcDtype, out, count);
    this.k.dequant_fp8(this.addressOf(src), this.addressOf(out), count, Math.fround(scale), FP8_FORMAT[srcDtype]);
  }

  dequantizeFp8Blocks(
    src: KernelBuffer, srcDtype: Fp8Dtype, out: KernelBuffer, count: number, first: number, grid: Fp8ScaleGrid,
  ): void {
    checkDequantizeOperands(src, srcDtype, out, count);
    const { row, column, scaleColumns } = checkGridPiece(grid, first, count);
    if (count === 0) return;
    this.k.dequant_fp8_blocks(
      this.addressOf(src), this.addressOf(out), count, row, column, grid.columns,
      this.addressOf(grid.scales), scaleColumns, grid.blockRows, grid.blockColumns, FP8_FORMAT[srcDtype],
    );
  }

  quantizeE4m3Blocks(src: KernelBuffer, out: KernelBuffer, rows: number, grid: Fp8ScaleGrid): number {
    const scaleColumns = checkQuantizeOperands(src, out, rows, grid);
    return this.k.quantize_e4m3_blocks(
      this.addressOf(src), this.addressOf(out), rows, grid.columns,
      this.addressOf(grid.scales), scaleColumns, grid.blockRows, grid.blockColumns,
    );
  }

  /** The single-pass kernel for this combination, if there is one. */
  private fusedSubtract(aDtype: FloatDtype, bDtype: FloatDtype, outDtype: FloatDtype, withStats: boolean): TeamKernel | undefined {
    if (aDtype !== bDtype) return undefined;
    if (aDtype === 'BF16' && outDtype === 'BF16') return withStats ? 'sub_bf16_stats' : 'sub_bf16';
    if (aDtype === 'F32' && outDtype === 'F32') return withStats ? 'sub_f32_stats' : 'sub_f32';
    if (aDtype === 'BF16' && outDtype === 'F32') return withStats ? 'sub_bf16_f32_stats' : 'sub_bf16_f32';
    if (withStats) return undefined;
    if (aDtype === 'F16' && outDtype === 'F16') return 'sub_f16';
    return undefined;
  }

  /**
   * Runs a fused kernel over `count` elements (a multiple of the SIMD group) on this thread and the
   * kernel threads that are free, in chunks claimed from a shared cursor. With `stats`, each thread's
   * statistics are collected from its region afterwards.
   */
  private runFused(
    kernel: TeamKernel, addresses: readonly [number, number, number], sizes: readonly [number, number, number],
    count: number, stats?: DeltaStatistics,
  ): void {
    const helpers = count >= PARALLEL_MIN_ELEMENTS ? this.readyHelpers() : [];
    if (stats !== undefined) this.resetStatistics();
    if (helpers.length === 0) {
      this.k[kernel](addresses[0], addresses[1], addresses[2], count);
      if (stats !== undefined) this.collectStatistics(stats, count);
      return;
    }
    const team = this.team!;
    if (stats !== undefined) for (const helper of helpers) this.resetStatistics(team.regions[helper]!);
    const shares = team.run({ kernel, addresses, sizes, count, chunk: TEAM_CHUNK_ELEMENTS }, helpers, this.k[kernel]);
    if (stats === undefined) return;
    this.collectStatistics(stats, shares.local);
    for (const { helper, elements } of shares.helpers) {
      this.collectStatistics(stats, elements, team.regions[helper]!, this.helperViews[helper]!);
    }
  }

  /** The kernel threads free to take a part now; the first call large enough starts them. */
  private readyHelpers(): number[] {
    if (this.team === null) return [];
    if (this.team === undefined) {
      // Regions come from the heap; shared memory grows without detaching views of it.
      const regions = Array.from({ length: this.threads - 1 }, () => this.heap.allocate(REGION_BYTES));
      this.team = new KernelTeam(this.module, this.k.memory, regions);
      this.helperViews = regions.map((region) =>
        new WebAssembly.Instance(this.module, { env: { memory: this.k.memory, region } }).exports as unknown as KernelExports);
    }
    return this.team.readyHelpers();
  }

  /** One block of at most WASM_BLOCK_ELEMENTS through binary32 scratch; returns the binary32 operand addresses. */
  private subtractBlock(
    a: number, aDtype: FloatDtype, b: number, bDtype: FloatDtype, out: number, outDtype: FloatDtype,
    length: number, withStats: boolean,
  ): [number, number, number] {
    const k = this.k;
    const first = widenedAddress(k, aDtype, a, SCRATCH_FIRST_ADDRESS, length);
    const second = widenedAddress(k, bDtype, b, SCRATCH_SECOND_ADDRESS, length);
    const result = outDtype === 'F32' ? out : SCRATCH_RESULT_ADDRESS;
    (withStats ? k.sub_f32_stats : k.sub_f32)(first, second, result, length);
    narrowInto(k, outDtype, result, out, length);
    return [first, second, result];
  }

  private addScaledBlock(
    c: number, cDtype: FloatDtype, r: number, rDtype: FloatDtype, alpha32: number, out: number, outDtype: FloatDtype,
    length: number,
  ): void {
    const k = this.k;
    const first = widenedAddress(k, cDtype, c, SCRATCH_FIRST_ADDRESS, length);
    const second = widenedAddress(k, rDtype, r, SCRATCH_SECOND_ADDRESS, length);
    const result = outDtype === 'F32' ? out : SCRATCH_RESULT_ADDRESS;
    // With alpha 1 the fused multiply-add is exactly the binary32 sum.
    if (alpha32 === 1) k.add_f32(first, second, result, length);
    else k.fma_f32(first, second, alpha32, result, length);
    narrowInto(k, outDtype, result, out, length);
  }

  /**
   * Copies `length` (< 8) elements from each input at `start` into zero-padded tail slots, runs `body` on one
   * group of 8 there, and copies the first `length` results out.
   */
  private runTail(
    length: number, inputs: Array<[KernelBuffer, FloatDtype, number]>, output: [KernelBuffer, FloatDtype, number] | undefined,
    body: (first: number, second: number, result: number) => void,
  ): void {
    const memory = new Uint8Array(this.k.memory.buffer);
    const slots = [TAIL_FIRST_ADDRESS, TAIL_SECOND_ADDRESS];
    memory.fill(0, TAIL_FIRST_ADDRESS, TAIL_OUT_ADDRESS + SIMD_GROUP * 8);
    inputs.forEach(([buffer, dtype, start], index) => {
      const size = FLOAT_DTYPE_BYTES[dtype];
      const from = this.addressOf(buffer) + start * size;
      memory.copyWithin(slots[index]!, from, from + length * size);
    });
    body(TAIL_FIRST_ADDRESS, TAIL_SECOND_ADDRESS, TAIL_OUT_ADDRESS);
    if (output !== undefined) {
      const [buffer, dtype, start] = output;
      const size = FLOAT_DTYPE_BYTES[dtype];
      memory.copyWithin(this.addressOf(buffer) + start * size, TAIL_OUT_ADDRESS, TAIL_OUT_ADDRESS + length * size);
    }
  }

  private accumulateTail(stats: DeltaStatistics, [first, second, result]: [number, number, number], length: number): void {
    const buffer = this.k.memory.buffer;
    const a = new Float32Array(buffer, first, length);
    const b = new Float32Array(buffer, second, length);
    const d = new Float32Array(buffer, result, length);
    accumulateDeltas(stats, a, b, d, new Uint32Array(buffer, result, length), length);
  }

  private resetStatistics(region = 0): void {
    const view = new DataView(this.k.memory.buffer, region + STATS_ADDRESS, STATS_BYTES);
    for (let offset = 0; offset < STATS_BYTES; offset += 4) view.setUint32(offset, 0, true);
    view.setFloat32(STATS_MIN, Infinity, true);
    view.setFloat32(STATS_MAX, -Infinity, true);
  }

  /** Adds the statistics block and the touched histogram counters into `stats`, clearing the counters. */
  private collectStatistics(stats: DeltaStatistics, count: number, region = 0, k: KernelExports = this.k): void {
    const buffer = this.k.memory.buffer;
    const view = new DataView(buffer, region + STATS_ADDRESS, STATS_BYTES);
    const finite = view.getInt32(STATS_FINITE, true);
    addTotals(stats, {
      count,
      sum: view.getFloat64(STATS_SUM, true),
      sumSquares: view.getFloat64(STATS_SUM_SQUARES, true),
      baseSumSquares: view.getFloat64(STATS_BASE_SUM_SQUARES, true),
      otherSumSquares: view.getFloat64(STATS_OTHER_SUM_SQUARES, true),
      dot: view.getFloat64(STATS_DOT, true),
      min: view.getFloat32(STATS_MIN, true),
      max: view.getFloat32(STATS_MAX, true),
      unchanged: view.getInt32(STATS_UNCHANGED, true),
      nonFinite: count - finite,
    });
    k.collect_touched();
    const touched = view.getInt32(STATS_TOUCHED, true);
    const keys = new Uint32Array(buffer, region + TOUCHED_KEYS_ADDRESS, touched);
    const counters = new Uint32Array(buffer, region + HISTOGRAM_ADDRESS, 65_536);
    const histogram = stats.histogram;
    for (let i = 0; i < touched; i++) {
      const key = keys[i]!;
      histogram[key]! += counters[key]!;
      counters[key] = 0;
    }
    view.setInt32(STATS_TOUCHED, 0, true);
  }

  private addressOf(buffer: KernelBuffer): number {
    if (!(buffer instanceof WasmBuffer) || buffer.owner !== this || !this.heap.isAllocated(buffer.allocation)) {
      throw new SurgeonError('usage', 'buffer was not allocated by these WebAssembly kernels, or was freed');
    }
    return buffer.address;
  }
}

/** True where this runtime validates WebAssembly SIMD (Node 16.4 and later do). */
export function wasmSimdSupported(): boolean {
  // The smallest module using a v128 value: (func (result v128) v128.const i32x4 0 0 0 0).
  const probe = Uint8Array.from([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
  ]);
  return typeof WebAssembly === 'object' && WebAssembly.validate(probe);
}

/**
 * Kernels on a shared WebAssembly memory. This thread's statistics region is at 0, below the heap;
 * `threads` (default: kernelThreads()) bounds how many threads split a large fused call.
 */
export async function createWasmKernels(options: { threads?: number } = {}): Promise<ElementwiseKernels> {
  const module = await compileKernelsModule();
  const memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_WASM_PAGES, shared: true });
  const instance = await WebAssembly.instantiate(module, { env: { memory, region: 0 } });
  return new WasmKernels(instance.exports as unknown as KernelExports, module, options.threads ?? kernelThreads());
}
