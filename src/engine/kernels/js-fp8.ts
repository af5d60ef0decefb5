/**
 * The plain-JS FP8 kernels (docs/fp8.md) on byte arrays: the twin of the FP8 functions in wasm/kernels.wat, with the
 * same bits. Decoding goes through tables of the 256 values; the product of two binary32 values is exact in binary64,
 * so storing it into a Float32Array rounds once, as the binary32 multiply does. The same holds for the quotient of
 * two binary32 values (binary64 has more than twice binary32's precision, so the second rounding is innocuous).
 */
import { bitsToF32, f32ToBits } from '../numerics/float-bits';
import {
  DECODED_NAN_BITS, E4M3_MAX, E4M3_TO_F32_BITS, E4M3_VALUES, E5M2_TO_F32_BITS, E5M2_VALUES, f32BitsToE4m3Bits,
  type Fp8Dtype,
} from '../numerics/float8';
import type { GridPosition } from './fp8-arguments';
import { readElements, writableElements } from './typed-views';

const F32_MAGNITUDE_MASK = 0x7fff_ffff;
const F32_INFINITY_BITS = 0x7f80_0000;

/** The F32 bytes of `out` as values and as bits (the same memory), with the function that stores them. */
function outputViews(out: Uint8Array, count: number): [Float32Array, Uint32Array, () => void] {
  const [bits, store] = writableElements(Uint32Array, out, 0, count);
  return [new Float32Array(bits.buffer, bits.byteOffset, count), bits, store];
}

/**
 * out[outStart + i] = fp8(src[srcStart + i]) * scale for `length` elements. An FP8 NaN gives its table bits (the
 * quiet NaN with the byte's sign), never the product, as in the WebAssembly kernel.
 */
function dequantizeRun(
  src: Uint8Array, srcStart: number, dtype: Fp8Dtype, values: Float32Array, bits: Uint32Array, outStart: number,
  length: number, scale: number,
): void {
  const table = dtype === 'F8_E4M3' ? E4M3_VALUES : E5M2_VALUES;
  const tableBits = dtype === 'F8_E4M3' ? E4M3_TO_F32_BITS : E5M2_TO_F32_BITS;
  for (let i = 0; i < length; i++) {
    const byte = src[srcStart + i]!;
    const value = table[byte]!;
    if (value === value) values[outStart + i] = value * scale;
    else bits[outStart + i] = tableBits[byte]!;
  }
}

export function dequantizeFp8Bytes(src: Uint8Array, dtype: Fp8Dtype, out: Uint8Array, count: number, scale: number): void {
  const [values, bits, store] = outputViews(out, count);
  dequantizeRun(src, 0, dtype, values, bits, 0, count, Math.fround(scale));
  store();
}

/** dequantizeFp8Bytes of a piece of a matrix starting at `position`, each run of a row within a block by its scale. */
export function dequantizeFp8BlocksBytes(
  src: Uint8Array, dtype: Fp8Dtype, out: Uint8Array, count: number, position: GridPosition,
  grid: { columns: number; blockRows: number; blockColumns: number }, scaleBytes: Uint8Array,
): void {
  const [values, bits, store] = outputViews(out, count);
  const { columns, blockRows, blockColumns } = grid;
  const { scaleColumns } = position;
  const scales = readElements(Float32Array, scaleBytes, 0, Math.floor(scaleBytes.byteLength / 4));
  let { row, column } = position;
  let done = 0;
  while (done < count) {
    const blockColumn = Math.floor(column / blockColumns);
    const length = Math.min((blockColumn + 1) * blockColumns, columns) - column;
    const run = Math.min(length, count - done);
    const scale = scales[Math.floor(row / blockRows) * scaleColumns + blockColumn]!;
    dequantizeRun(src, done, dtype, values, bits, done, run, scale);
    done += run;
    column += run;
    if (column === columns) {
      column = 0;
      row++;
    }
  }
  store();
}

/**
 * The E4M3 byte of x / scale for the binary32 x (`value`, `bits`): the magnitude's quotient rounded (its sign masked
 * off, since a NaN quotient's sign is unspecified), then the sign of x.
 */
function quantizeElement(value: number, bits: number, scale: number): number {
  return f32BitsToE4m3Bits(f32ToBits(Math.abs(value) / scale) & F32_MAGNITUDE_MASK) | ((bits >>> 24) & 0x80);
}

/**
 * The scale of a block from the bits of its largest magnitude: amax / 448 in binary32, 1 where that is 0, the quiet NaN
 * where amax is NaN (infinity stays infinity).
 */
function blockScaleBits(amaxBits: number): number {
  if (amaxBits > F32_INFINITY_BITS) return DECODED_NAN_BITS;
  const scale = Math.fround(bitsToF32(amaxBits) / E4M3_MAX);
  return f32ToBits(scale === 0 ? 1 : scale);
}

export function quantizeE4m3BlocksBytes(
  src: Uint8Array, out: Uint8Array, rows: number, grid: { columns: number; blockRows: number; blockColumns: number },
  scaleColumns: number, scaleBytes: Uint8Array,
): number {
  const { columns, blockRows, blockColumns } = grid;
  const x = readElements(Uint32Array, src, 0, rows * columns);
  const scaleRows = Math.ceil(rows / blockRows);
  const [scaleBits, storeScales] = writableElements(Uint32Array, scaleBytes, 0, scaleRows * scaleColumns);
  const values = new Float32Array(x.buffer, x.byteOffset, x.length);
  const amax = new Uint32Array(scaleColumns);
  const bandScales = new Float64Array(scaleColumns);
  let nonFinite = 0;
  for (let bandStart = 0; bandStart < rows; bandStart += blockRows) {
    const bandEnd = Math.min(bandStart + blockRows, rows);
    const scaleRow = (bandStart / blockRows) * scaleColumns;
    amax.fill(0);
    for (let row = bandStart; row < bandEnd; row++) {
      const rowStart = row * columns;
      for (let column = 0; column < columns; column++) {
        // Magnitudes order as unsigned integers, NaN above infinity.
        const magnitude = x[rowStart + column]! & F32_MAGNITUDE_MASK;
        const block = Math.floor(column / blockColumns);
        if (magnitude > amax[block]!) amax[block] = magnitude;
      }
    }
    for (let block = 0; block < scaleColumns; block++) {
      scaleBits[scaleRow + block] = blockScaleBits(amax[block]!);
      if (amax[block]! >= F32_INFINITY_BITS) nonFinite++;
    }
    for (let block = 0; block < scaleColumns; block++) bandScales[block] = bitsToF32(scaleBits[scaleRow + block]!);
    for (let row = bandStart; row < bandEnd; row++) {
      const rowStart = row * columns;
      for (let column = 0; column < columns; column++) {
        const scale = bandScales[Math.floor(column / blockColumns)]!;
        out[rowStart + column] = quantizeElement(values[rowStart + column]!, x[rowStart + column]!, scale);
      }
    }
  }
  storeScales();
  return nonFinite;
}
