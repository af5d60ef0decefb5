import type { FloatDtype } from '../format/dtype';
import { bf16ToNumber } from './bfloat16';
import { f16ToNumber } from './float16';

/** Element `index` of little-endian `bytes` holding `dtype` values, as a JavaScript number (exact). */
export function floatValueAt(bytes: Uint8Array, dtype: FloatDtype, index: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'BF16': return bf16ToNumber(view.getUint16(index * 2, true));
    case 'F16': return f16ToNumber(view.getUint16(index * 2, true));
    case 'F32': return view.getFloat32(index * 4, true);
    case 'F64': return view.getFloat64(index * 8, true);
  }
}

/** `count` elements from `start` as numbers. */
export function floatValues(bytes: Uint8Array, dtype: FloatDtype, start: number, count: number): Float64Array {
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = floatValueAt(bytes, dtype, start + i);
  return values;
}
