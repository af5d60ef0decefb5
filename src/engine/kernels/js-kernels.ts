/**
 * The plain-JS kernels: the fallback where WebAssembly SIMD is missing, and the second implementation the
 * WebAssembly kernels are tested against. Inputs are widened block by block into binary32 scratch, computed,
 * and narrowed, with the same bits as the WebAssembly kernels.
 */
import { SurgeonError } from '../errors';
import type { Dtype } from '../format/dtype';
import { fmaF32 } from '../numerics/fused-multiply-add';
import type { CompareAccumulator } from './compare-accumulator';
import { accumulateDeltas, type DeltaStatistics } from './delta-statistics';
import { addScaledF64, compareF64, subtractF64 } from './float64-paths';
import { anyNonFiniteElement } from './non-finite';
import { Float32Block, JS_BLOCK_ELEMENTS, narrowFrom, widenInto } from './js-conversions';
import { checkCount, checkOperand, checkViewRange, FLOAT_DTYPE_BYTES } from './kernel-arguments';
import type { ElementwiseKernels, Fp8ScaleGrid, KernelBuffer } from './kernel-types';
import type { Fp8Dtype } from '../numerics/float8';
import { checkDequantizeOperands, checkGridPiece, checkQuantizeOperands } from './fp8-arguments';
import { dequantizeFp8BlocksBytes, dequantizeFp8Bytes, quantizeE4m3BlocksBytes } from './js-fp8';

/** Allocations are aligned like the WebAssembly kernels' so that every dtype can be viewed in place. */
const ALLOCATION_ALIGNMENT = 64;

class JsBuffer implements KernelBuffer {
  constructor(readonly bytes: Uint8Array, readonly owner: JsKernels) {}
  get byteLength(): number {
    return this.bytes.byteLength;
  }
  view(byteOffset: number, byteLength = this.bytes.byteLength - byteOffset): KernelBuffer {
    checkViewRange(this.bytes.byteLength, byteOffset, byteLength);
    return new JsBuffer(this.bytes.subarray(byteOffset, byteOffset + byteLength), this.owner);
  }
}

class JsKernels implements ElementwiseKernels {
  readonly name = 'js' as const;
  private readonly first = new Float32Block();
  private readonly second = new Float32Block();
  private readonly result = new Float32Block();

  allocate(byteLength: number): KernelBuffer {
    checkCount(byteLength);
    const padded = Math.max(ALLOCATION_ALIGNMENT, Math.ceil(byteLength / ALLOCATION_ALIGNMENT) * ALLOCATION_ALIGNMENT);
    return new JsBuffer(new Uint8Array(new ArrayBuffer(padded), 0, byteLength), this);
  }

  dispose(): void {
    // Nothing to stop: the plain-JS kernels run on the calling thread.
  }

  activeThreads(): number {
    return 1;
  }

  free(buffer: KernelBuffer): void {
    // Garbage collection reclaims the memory; only ownership is checked, as the WebAssembly kernels do.
    this.bytesOf(buffer);
  }

  subtract(
    a: KernelBuffer, aDtype: Dtype, b: KernelBuffer, bDtype: Dtype,
    out: KernelBuffer, outDtype: Dtype, count: number, stats?: DeltaStatistics,
  ): void {
    checkCount(count);
    checkOperand('a', a, aDtype, count);
    checkOperand('b', b, bDtype, count);
    checkOperand('out', out, outDtype, count);
    if (aDtype === 'F64' || bDtype === 'F64' || outDtype === 'F64') {
      subtractF64(this.bytesOf(a), aDtype, this.bytesOf(b), bDtype, this.bytesOf(out), outDtype, count, stats);
      return;
    }
    const { first, second, result } = this;
    for (let start = 0; start < count; start += JS_BLOCK_ELEMENTS) {
      const length = Math.min(JS_BLOCK_ELEMENTS, count - start);
      widenInto(first, this.bytesOf(a), aDtype, start, length);
      widenInto(second, this.bytesOf(b), bDtype, start, length);
      const x = first.f32;
      const y = second.f32;
      const d = result.f32;
      // The binary64 difference of two binary32 values rounds to the correctly rounded binary32 difference.
      for (let i = 0; i < length; i++) d[i] = y[i]! - x[i]!;
      if (stats !== undefined) accumulateDeltas(stats, x, y, d, result.u32, length);
      narrowFrom(result, this.bytesOf(out), outDtype, start, length);
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
    if (cDtype === 'F64' || rDtype === 'F64' || outDtype === 'F64') {
      addScaledF64(this.bytesOf(c), cDtype, this.bytesOf(r), rDtype, alpha, this.bytesOf(out), outDtype, count);
      return;
    }
    const alpha32 = Math.fround(alpha);
    const { first, second, result } = this;
    for (let start = 0; start < count; start += JS_BLOCK_ELEMENTS) {
      const length = Math.min(JS_BLOCK_ELEMENTS, count - start);
      widenInto(first, this.bytesOf(c), cDtype, start, length);
      widenInto(second, this.bytesOf(r), rDtype, start, length);
      const base = first.f32;
      const residual = second.f32;
      const sum = result.f32;
      if (alpha32 === 1) {
        for (let i = 0; i < length; i++) sum[i] = base[i]! + residual[i]!;
      } else {
        for (let i = 0; i < length; i++) sum[i] = fmaF32(residual[i]!, alpha32, base[i]!);
      }
      narrowFrom(result, this.bytesOf(out), outDtype, start, length);
    }
  }

  convert(src: KernelBuffer, srcDtype: Dtype, out: KernelBuffer, outDtype: Dtype, count: number): void {
    checkCount(count);
    checkOperand('src', src, srcDtype, count);
    checkOperand('out', out, outDtype, count);
    if (srcDtype === outDtype) {
      this.bytesOf(out).set(this.bytesOf(src).subarray(0, count * FLOAT_DTYPE_BYTES[srcDtype]));
      return;
    }
    for (let start = 0; start < count; start += JS_BLOCK_ELEMENTS) {
      const length = Math.min(JS_BLOCK_ELEMENTS, count - start);
      widenInto(this.result, this.bytesOf(src), srcDtype, start, length);
      narrowFrom(this.result, this.bytesOf(out), outDtype, start, length);
    }
  }

  anyNonFinite(buffer: KernelBuffer, dtype: Dtype, count: number): boolean {
    checkCount(count);
    checkOperand('buffer', buffer, dtype, count);
    return anyNonFiniteElement(this.bytesOf(buffer), dtype, 0, count);
  }

  compare(
    x: KernelBuffer, xDtype: Dtype, y: KernelBuffer, yDtype: Dtype, count: number, acc: CompareAccumulator,
  ): void {
    checkCount(count);
    checkOperand('x', x, xDtype, count);
    checkOperand('y', y, yDtype, count);
    if (xDtype === 'F64' || yDtype === 'F64') {
      compareF64(this.bytesOf(x), xDtype, this.bytesOf(y), yDtype, count, acc);
      return;
    }
    const { first, second } = this;
    let identical = 0;
    let signedZeroOnly = 0;
    let maxAbsError = acc.maxAbsError;
    let nonFiniteMismatch = 0;
    for (let start = 0; start < count; start += JS_BLOCK_ELEMENTS) {
      const length = Math.min(JS_BLOCK_ELEMENTS, count - start);
      widenInto(first, this.bytesOf(x), xDtype, start, length);
      widenInto(second, this.bytesOf(y), yDtype, start, length);
      for (let i = 0; i < length; i++) {
        const same = first.u32[i] === second.u32[i];
        if (same) identical++;
        const u = first.f32[i]!;
        const v = second.f32[i]!;
        if (!same && u === v) signedZeroOnly++;
        if (u - u === 0 && v - v === 0) {
          const error = Math.abs(u - v);
          if (error > maxAbsError) maxAbsError = error;
        } else if (!same && !(u !== u && v !== v)) {
          nonFiniteMismatch++;
        }
      }
    }
    acc.count += count;
    acc.identical += identical;
    acc.signedZeroOnly += signedZeroOnly;
    acc.maxAbsError = maxAbsError;
    acc.nonFiniteMismatch += nonFiniteMismatch;
  }

  dequantizeFp8(src: KernelBuffer, srcDtype: Fp8Dtype, out: KernelBuffer, count: number, scale: number): void {
    checkDequantizeOperands(src, srcDtype, out, count);
    dequantizeFp8Bytes(this.bytesOf(src), srcDtype, this.bytesOf(out), count, scale);
  }

  dequantizeFp8Blocks(
    src: KernelBuffer, srcDtype: Fp8Dtype, out: KernelBuffer, count: number, first: number, grid: Fp8ScaleGrid,
  ): void {
    checkDequantizeOperands(src, srcDtype, out, count);
    const position = checkGridPiece(grid, first, count);
    dequantizeFp8BlocksBytes(this.bytesOf(src), srcDtype, this.bytesOf(out), count, position, grid, this.bytesOf(grid.scales));
  }

  quantizeE4m3Blocks(src: KernelBuffer, out: KernelBuffer, rows: number, grid: Fp8ScaleGrid): number {
    const scaleColumns = checkQuantizeOperands(src, out, rows, grid);
    return quantizeE4m3BlocksBytes(this.bytesOf(src), this.bytesOf(out), rows, grid, scaleColumns, this.bytesOf(grid.scales));
  }

  private bytesOf(buffer: KernelBuffer): Uint8Array {
    if (!(buffer instanceof JsBuffer) || buffer.owner !== this) {
      throw new SurgeonError('usage', 'buffer was not allocated by these JS kernels');
    }
    return buffer.bytes;
  }
}

export function createJsKernels(): ElementwiseKernels {
  return new JsKernels();
}
