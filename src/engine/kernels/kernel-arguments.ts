/** Checks shared by both kernel implementations, so that misuse fails loudly instead of writing past a tensor. */
import { SurgeonError } from '../errors';
import { isFloatDtype, type Dtype, type FloatDtype } from '../format/dtype';
import type { KernelBuffer } from './kernel-types';

export const FLOAT_DTYPE_BYTES: Readonly<Record<FloatDtype, number>> = { BF16: 2, F16: 2, F32: 4, F64: 8 };

/** Throws unless `dtype` is one the kernels compute on and `buffer` holds `count` elements of it. */
export function checkOperand(
  role: string, buffer: KernelBuffer, dtype: Dtype, count: number,
): asserts dtype is FloatDtype {
  if (!isFloatDtype(dtype)) {
    throw new SurgeonError('dtype-mismatch', `the kernels compute on F16, BF16, F32 and F64, not ${dtype} (${role})`);
  }
  const needed = count * FLOAT_DTYPE_BYTES[dtype];
  if (buffer.byteLength < needed) {
    throw new SurgeonError(
      'usage', `${role} holds ${buffer.byteLength} bytes, ${count} ${dtype} elements need ${needed}`,
    );
  }
}

export function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new SurgeonError('usage', `element count must be a non-negative integer, got ${count}`);
  }
}

export function checkViewRange(byteLength: number, byteOffset: number, viewLength: number): void {
  if (!Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(viewLength) || byteOffset < 0 || viewLength < 0
    || byteOffset + viewLength > byteLength) {
    throw new SurgeonError('usage', `view [${byteOffset}, ${byteOffset + viewLength}) is outside a ${byteLength}-byte buffer`);
  }
}
