import { Float32Block, JS_BLOCK_ELEMENTS, narrowFrom, widenInto } from '../kernels/js-conversions';

/** The dtypes an adapter's factors are written in. */
export type FactorDtype = 'BF16' | 'F16' | 'F32';

export interface EncodedFactor {
  /** The factor as stored, little-endian `dtype` elements. */
  bytes: Uint8Array;
  /** The stored values widened back to binary32: what a reader of the adapter multiplies. */
  stored: Float32Array;
}

/** A binary32 factor rounded to `dtype` (to nearest, ties to even), with the values that rounding left. */
export function encodeFactor(values: Float32Array, dtype: FactorDtype): EncodedFactor {
  const elementBytes = dtype === 'F32' ? 4 : 2;
  const bytes = new Uint8Array(values.length * elementBytes);
  const stored = new Float32Array(values.length);
  const block = new Float32Block();
  for (let start = 0; start < values.length; start += JS_BLOCK_ELEMENTS) {
    const length = Math.min(JS_BLOCK_ELEMENTS, values.length - start);
    block.f32.set(values.subarray(start, start + length));
    narrowFrom(block, bytes, dtype, start, length);
    widenInto(block, bytes, dtype, start, length);
    stored.set(block.f32.subarray(0, length), start);
  }
  return { bytes, stored };
}

/** The transpose of a row-major (rows x cols) matrix, row-major (cols x rows). */
export function transposed(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let row = 0; row < rows; row++) {
    const offset = row * cols;
    for (let col = 0; col < cols; col++) out[col * rows + row] = values[offset + col]!;
  }
  return out;
}
