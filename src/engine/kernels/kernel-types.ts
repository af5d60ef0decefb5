/**
 * The elementwise kernels' contract (docs/architecture.md, "kernels"). Buffers live in the kernels' own
 * memory so that file reads land in them without a copy.
 */
import type { Dtype } from '../format/dtype';
import type { Fp8Dtype } from '../numerics/float8';
import type { CompareAccumulator } from './compare-accumulator';
import type { DeltaStatistics } from './delta-statistics';

export type KernelName = 'wasm-simd' | 'js';

/**
 * Scales over blocks of a row-major FP8 matrix of `columns` columns (docs/fp8.md): block (i, j) covers rows
 * [i * blockRows, (i + 1) * blockRows) and columns [j * blockColumns, (j + 1) * blockColumns), and its binary32 scale is
 * element i * ceil(columns / blockColumns) + j of `scales`. DeepSeek's `weight_scale_inv` has blocks of 128 x 128; a
 * per-channel scale is blocks of 1 x columns, a per-tensor scale one block of the whole matrix.
 */
export interface Fp8ScaleGrid {
  /** F32 scales, row-major, `ceil(columns / blockColumns)` a row. */
  readonly scales: KernelBuffer;
  readonly columns: number;
  readonly blockRows: number;
  readonly blockColumns: number;
}

export interface KernelBuffer {
  /**
   * The buffer's bytes. With the WebAssembly kernels this is a view of the module's memory, which a later
   * `allocate` may grow and so detach: read `bytes` again after any `allocate` instead of keeping it.
   */
  readonly bytes: Uint8Array;
  readonly byteLength: number;
  /** A buffer sharing `byteLength` bytes of this one from `byteOffset` (for a tensor inside a chunk). */
  view(byteOffset: number, byteLength?: number): KernelBuffer;
}

export interface ElementwiseKernels {
  readonly name: KernelName;
  /** A zero-filled buffer in the kernels' memory, aligned to 64 bytes. */
  allocate(byteLength: number): KernelBuffer;
  /** Returns a buffer from `allocate` for reuse; using it (or its views) afterwards is an error. */
  free(buffer: KernelBuffer): void;
  /** Stops any kernel threads; the kernels still work afterwards, on the calling thread alone. */
  dispose(): void;
  /** Threads that would share a large call now: the calling thread and the kernel threads started and free. */
  activeThreads(): number;
  /**
   * out = narrow(widen(b) - widen(a)), b minus a (instruct minus base), in binary32, or in binary64 when a, b
   * and out are all F64. `stats` (optional) accumulates the unrounded delta. `out` may be `a` or `b` when the
   * dtypes have the same size; otherwise the regions must not overlap.
   */
  subtract(
    a: KernelBuffer, aDtype: Dtype, b: KernelBuffer, bDtype: Dtype,
    out: KernelBuffer, outDtype: Dtype, count: number, stats?: DeltaStatistics,
  ): void;
  /**
   * out = narrow(c + alpha * r) with one rounding of the binary32 fused multiply-add
   * (`torch.add(c.float(), r.float(), alpha=alpha).to(dtype)` on a CPU); alpha is rounded to binary32, not to the
   * tensors' dtype as PyTorch's bf16/f16 `torch.add(c, r, alpha=alpha)` does. All F64 computes in binary64.
   */
  addScaled(
    c: KernelBuffer, cDtype: Dtype, r: KernelBuffer, rDtype: Dtype, alpha: number,
    out: KernelBuffer, outDtype: Dtype, count: number,
  ): void;
  /** out = src converted (through binary32 unless both are F64, as PyTorch's `.to(dtype)` does). */
  convert(src: KernelBuffer, srcDtype: Dtype, out: KernelBuffer, outDtype: Dtype, count: number): void;
  /** Whether any of the first `count` elements of `buffer` is infinite or NaN (apply's overflow guard). */
  anyNonFinite(buffer: KernelBuffer, dtype: Dtype, count: number): boolean;
  /** Counts bit-identical elements and the largest |x - y| (binary64) of x against y, into `acc`. */
  compare(
    x: KernelBuffer, xDtype: Dtype, y: KernelBuffer, yDtype: Dtype, count: number, acc: CompareAccumulator,
  ): void;
  /**
   * out (F32) = f32(src) * scale for `count` FP8 elements: each value decoded exactly, then one binary32 product
   * (DeepSeek's `weight_dequant`); `scale` is rounded to binary32 first. An FP8 NaN gives 0x7FC00000 with its sign.
   * The regions must not overlap.
   */
  dequantizeFp8(src: KernelBuffer, srcDtype: Fp8Dtype, out: KernelBuffer, count: number, scale: number): void;
  /**
   * dequantizeFp8 of the matrix elements [first, first + count) (row-major, `grid.columns` a row) that `src` holds,
   * each times the scale of its block in `grid`: a piece of a tensor, cut anywhere.
   */
  dequantizeFp8Blocks(
    src: KernelBuffer, srcDtype: Fp8Dtype, out: KernelBuffer, count: number, first: number, grid: Fp8ScaleGrid,
  ): void;
  /**
   * Quantizes `rows` full rows of the F32 matrix `src` (its first row starts a band of blocks) to E4M3 bytes in `out`,
   * writing each block's scale into `grid.scales` (ceil(rows / blockRows) rows of them): scale = amax / 448 in binary32
   * (1 where that is 0), element = |x| / scale rounded once to E4M3 (nearest, ties to even, saturating at 448) with the
   * sign of x. Dequantizing multiplies by the scale, so it is what `weight_scale_inv` holds. Returns the number of blocks
   * holding an infinity or NaN (scale infinity or NaN, elements NaN): callers refuse those.
   */
  quantizeE4m3Blocks(src: KernelBuffer, out: KernelBuffer, rows: number, grid: Fp8ScaleGrid): number;
}
