/**
 * Pieces with FP8 operands for the float kernels (docs/fp8.md): an FP8 operand is dequantized into binary32 scratch
 * (one product with its block's scale an element), and the float kernel runs on that. A residual of FP8 checkpoints
 * is then narrow(f32(I) - f32(B)): one product per operand and one binary32 subtraction before the narrowing, the
 * same arithmetic as dequantizing both checkpoints to F32 first.
 */
import { SurgeonError } from '../errors';
import { isFp8Dtype } from '../numerics/float8';
import type { Dtype } from '../format/dtype';
import type { DeltaStatistics } from './delta-statistics';
import type { ElementwiseKernels, Fp8ScaleGrid, KernelBuffer } from './kernel-types';

/** A piece of one tensor as the kernels take it; FP8 tensors carry the grid of their scales. */
export interface KernelOperand {
  buffer: KernelBuffer;
  dtype: Dtype;
  /** The scales of an FP8 weight; required when `dtype` is F8_E4M3 or F8_E5M2. */
  grid?: Fp8ScaleGrid;
}

/**
 * `operand` as the float kernels take it: itself, or, for FP8, its `count` elements dequantized into `scratch`
 * (at least 4 * count bytes) as F32. `first` is the piece's first element in its tensor (for the block of each).
 */
export function floatOperand(
  kernels: ElementwiseKernels, operand: KernelOperand, count: number, first: number, scratch: KernelBuffer,
): { buffer: KernelBuffer; dtype: Dtype } {
  const { buffer, dtype, grid } = operand;
  if (!isFp8Dtype(dtype)) return { buffer, dtype };
  if (grid === undefined) throw new SurgeonError('usage', `an ${dtype} operand needs the grid of its scales`);
  kernels.dequantizeFp8Blocks(buffer, dtype, scratch, count, first, grid);
  return { buffer: scratch, dtype: 'F32' };
}

/**
 * out = narrow(b - a) (instruct minus base) for a piece starting at element `first` of its tensors, either operand
 * FP8 (dequantized into `scratch[0]` and `scratch[1]`), with the statistics of the binary32 delta.
 */
export function subtractOperands(
  kernels: ElementwiseKernels, a: KernelOperand, b: KernelOperand, out: KernelBuffer, outDtype: Dtype,
  count: number, first: number, scratch: readonly [KernelBuffer, KernelBuffer], stats?: DeltaStatistics,
): void {
  const x = floatOperand(kernels, a, count, first, scratch[0]);
  const y = floatOperand(kernels, b, count, first, scratch[1]);
  kernels.subtract(x.buffer, x.dtype, y.buffer, y.dtype, out, outDtype, count, stats);
}

/**
 * out = narrow(c + alpha * r) with one rounding of the binary32 fused multiply-add, for a piece starting at element
 * `first`, either operand FP8 (dequantized into `scratch[0]` and `scratch[1]`).
 */
export function addScaledOperands(
  kernels: ElementwiseKernels, c: KernelOperand, r: KernelOperand, alpha: number, out: KernelBuffer, outDtype: Dtype,
  count: number, first: number, scratch: readonly [KernelBuffer, KernelBuffer],
): void {
  const x = floatOperand(kernels, c, count, first, scratch[0]);
  const y = floatOperand(kernels, r, count, first, scratch[1]);
  kernels.addScaled(x.buffer, x.dtype, y.buffer, y.dtype, alpha, out, outDtype, count);
}
