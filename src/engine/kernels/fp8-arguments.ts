/** Checks shared by both implementations of the FP8 kernels, so that misuse fails loudly instead of reading past a buffer. */
import { SurgeonError } from '../errors';
import { isFp8Dtype, type Fp8Dtype } from '../numerics/float8';
import { checkCount } from './kernel-arguments';
import type { Fp8ScaleGrid, KernelBuffer } from './kernel-types';

/** The `format` argument of the WebAssembly FP8 kernels. */
export const FP8_FORMAT: Readonly<Record<Fp8Dtype, number>> = { F8_E4M3: 0, F8_E5M2: 1 };

/** Where a piece of a matrix starts in its scale grid, and how wide the grid is. */
export interface GridPosition {
  row: number;
  column: number;
  scaleColumns: number;
}

/** Throws unless `src` holds `count` FP8 bytes of a decodable dtype and `out` `count` F32 elements. */
export function checkDequantizeOperands(src: KernelBuffer, srcDtype: string, out: KernelBuffer, count: number): void {
  checkCount(count);
  if (!isFp8Dtype(srcDtype)) {
    throw new SurgeonError('dtype-mismatch', `the FP8 kernels decode F8_E4M3 and F8_E5M2, not ${srcDtype}`);
  }
  checkBytes('src', src, count, `${count} ${srcDtype} elements`);
  checkBytes('out', out, count * 4, `${count} F32 elements`);
}

/** Checks `grid` for the elements [first, first + count) of its matrix and returns where they start. */
export function checkGridPiece(grid: Fp8ScaleGrid, first: number, count: number): GridPosition {
  const scaleColumns = checkGridShape(grid);
  checkCount(first);
  const row = Math.floor(first / grid.columns);
  const column = first - row * grid.columns;
  if (count > 0) {
    const lastRow = Math.floor((first + count - 1) / grid.columns);
    // The WebAssembly kernels take rows as 32-bit integers; no tensor that fits in memory comes close.
    if (lastRow >= 2 ** 31) throw new SurgeonError('usage', `row ${lastRow} is beyond what the FP8 kernels index`);
    checkScaleRows(grid, Math.floor(lastRow / grid.blockRows) + 1, scaleColumns);
  }
  return { row, column, scaleColumns };
}

/** Throws unless `src` holds `rows` F32 rows of the grid's matrix, `out` as many E4M3 rows, and the grid their scales. */
export function checkQuantizeOperands(src: KernelBuffer, out: KernelBuffer, rows: number, grid: Fp8ScaleGrid): number {
  checkCount(rows);
  const scaleColumns = checkGridShape(grid);
  const count = rows * grid.columns;
  checkBytes('src', src, count * 4, `${rows} rows of ${grid.columns} F32 elements`);
  checkBytes('out', out, count, `${rows} rows of ${grid.columns} F8_E4M3 elements`);
  checkScaleRows(grid, Math.ceil(rows / grid.blockRows), scaleColumns);
  return scaleColumns;
}

function checkGridShape(grid: Fp8ScaleGrid): number {
  for (const key of ['columns', 'blockRows', 'blockColumns'] as const) {
    const value = grid[key];
    if (!Number.isSafeInteger(value) || value < 1 || value >= 2 ** 31) {
      throw new SurgeonError('usage', `scale grid ${key} must be a positive integer below 2^31, got ${value}`);
    }
  }
  return Math.ceil(grid.columns / grid.blockColumns);
}

function checkScaleRows(grid: Fp8ScaleGrid, scaleRows: number, scaleColumns: number): void {
  checkBytes('grid.scales', grid.scales, scaleRows * scaleColumns * 4, `${scaleRows} x ${scaleColumns} F32 scales`);
}

function checkBytes(role: string, buffer: KernelBuffer, needed: number, what: string): void {
  if (buffer.byteLength < needed) {
    throw new SurgeonError('usage', `${role} holds ${buffer.byteLength} bytes, ${what} need ${needed}`);
  }
}
