/**
 * Apply's guard against results that overflow: a cheap test of whether a piece of output holds any
 * infinity or NaN (all exponent bits set), and, only then, the exact search for an element that became
 * non-finite although its inputs were finite.
 */
import type { FloatDtype } from '../format/dtype';
import { F32_EXPONENT_MASK } from '../numerics/float-bits';
import { F16_INFINITY } from '../numerics/float16';
import { floatValueAt } from '../numerics/float-values';

/** The exponent bits of each 16- and 32-bit float dtype; all set means infinity or NaN. */
export const EXPONENT_MASK = { BF16: 0x7f80, F16: F16_INFINITY, F32: F32_EXPONENT_MASK } as const;
const F64_HIGH_EXPONENT_MASK = 0x7ff0_0000;

/** Whether any of elements [start, start + count) of `bytes` is infinite or NaN. */
export function anyNonFiniteElement(bytes: Uint8Array, dtype: FloatDtype, start: number, count: number): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = start + count;
  switch (dtype) {
    case 'BF16':
    case 'F16': {
      const mask = EXPONENT_MASK[dtype];
      for (let i = start; i < end; i++) if ((view.getUint16(i * 2, true) & mask) === mask) return true;
      return false;
    }
    case 'F32':
      for (let i = start; i < end; i++) if ((view.getUint32(i * 4, true) & EXPONENT_MASK.F32) === EXPONENT_MASK.F32) return true;
      return false;
    case 'F64':
      for (let i = start; i < end; i++) if ((view.getUint32(i * 8 + 4, true) & F64_HIGH_EXPONENT_MASK) === F64_HIGH_EXPONENT_MASK) return true;
      return false;
  }
}

export interface FloatOperand {
  bytes: Uint8Array;
  dtype: FloatDtype;
}

/**
 * The first element of `out` that is not finite while every input at that element is, with its
 * values; undefined when every non-finite result comes from a non-finite input.
 */
export function firstNewNonFinite(
  inputs: readonly FloatOperand[], out: FloatOperand, count: number,
): { index: number; inputs: number[]; result: number } | undefined {
  for (let index = 0; index < count; index++) {
    const result = floatValueAt(out.bytes, out.dtype, index);
    if (Number.isFinite(result)) continue;
    const values = inputs.map((input) => floatValueAt(input.bytes, input.dtype, index));
    if (values.every(Number.isFinite)) return { index, inputs: values, result };
  }
  return undefined;
}
