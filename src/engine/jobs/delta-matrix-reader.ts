import { open, type FileHandle } from 'node:fs/promises';
import type { TensorRef } from '../checkpoint/checkpoint-types';
import { loadFp8ScaleGrid, type Fp8Weight } from '../checkpoint/fp8-scales';
import { SurgeonError } from '../errors';
import { isFloatDtype, type FloatDtype } from '../format/dtype';
import { FLOAT_DTYPE_BYTES } from '../kernels/kernel-arguments';
import { subtractOperands } from '../kernels/fp8-operands';
import type { Fp8ScaleGrid } from '../kernels/kernel-types';
import type { ElementwiseKernels, KernelBuffer } from '../kernels/kernels';
import { isFp8Dtype, type Fp8Dtype } from '../numerics/float8';
import type { TensorPair } from './pair-tensors';

/** Elements per read of each side: 2 MiB of a bf16 side, 4 MiB of the f32 difference. */
const DELTA_CHUNK_ELEMENTS = 1 << 20;

/** Where a matrix of `elements` values goes: an array valid until the next call (a matrix backend's matrixStorage). */
export type MatrixStorage = (elements: number) => Float32Array;

export interface DeltaMatrixReaderOptions {
  chunkElements?: number;
  /** Where the differences land; one array of this reader's, reused for every matrix, when absent. */
  storage?: MatrixStorage;
  /** FP8 weights with their scales (jobs/fp8-inputs.ts): dequantized, as compute and diff's statistics read them. */
  fp8?: ReadonlyMap<TensorRef, Fp8Weight>;
}

/**
 * Reads B - A of one matrix after another as row-major f32, for the spectral pass. Each chunk of
 * both sides is read straight into the kernels' memory and subtracted there, so the values are the
 * bits an f32 residual of the pair holds (`compute --dtype f32`; PyTorch's `b.float() - a.float()`
 * unless a side is F64, which computes in binary64 and rounds once). The difference lands in the
 * matrix backend's own storage where it has one, else in one array reused for every matrix: a fresh
 * array of up to 1 GiB per matrix would fault its pages in anew. An FP8 side is dequantized with its scales first
 * (one binary32 product an element, docs/fp8.md), as the delta pass does.
 */
export class DeltaMatrixReader {
  private readonly handles = new Map<string, FileHandle>();
  private readonly chunkElements: number;
  private readonly storage: MatrixStorage;
  private readonly fp8: ReadonlyMap<TensorRef, Fp8Weight>;
  private ownStorage = new Float32Array(0);

  constructor(private readonly kernels: ElementwiseKernels, options: DeltaMatrixReaderOptions = {}) {
    this.chunkElements = options.chunkElements ?? DELTA_CHUNK_ELEMENTS;
    this.storage = options.storage ?? ((elements) => this.reusedArray(elements));
    this.fp8 = options.fp8 ?? new Map();
  }

  /**
   * B - A as a row-major f32 matrix of pair.shape; rows a side lacks (vocabulary growth) read as
   * zeros, as does a missing side A (a residual read alone). The array is valid until the next call.
   */
  async read(pair: TensorPair): Promise<Float32Array> {
    const count = pair.shape.reduce((product, size) => product * size, 1);
    const b = this.sideOf(pair.b, count, pair.name);
    // A missing side A reads as zeros: in B's dtype, or in binary32 beside an FP8 B (zeros need no scales).
    const a: Side | undefined = this.sideOf(pair.a, count, pair.name) ?? (b && { ref: undefined, dtype: isFp8Dtype(b.dtype) ? 'F32' : b.dtype });
    if (a === undefined || b === undefined) throw new SurgeonError('usage', 'a spectrum needs side B of the pair', undefined, pair.name);
    const delta = this.storage(count);
    const chunk = Math.min(count, this.chunkElements);
    const dequantized = a.weight !== undefined || b.weight !== undefined;
    const grids: Array<Fp8ScaleGrid | undefined> = [];
    const scratch: KernelBuffer[] = [];
    const buffers: KernelBuffer[] = [];
    try {
      // Scales and scratch first: nothing is allocated once the chunk buffers exist.
      for (const side of [a, b]) grids.push(side.weight ? await loadFp8ScaleGrid(this.kernels, side.weight) : undefined);
      if (dequantized) for (let index = 0; index < 2; index++) scratch.push(this.kernels.allocate(chunk * Float32Array.BYTES_PER_ELEMENT));
      const [aBuffer, bBuffer, out] = [chunk * sideBytes(a.dtype), chunk * sideBytes(b.dtype), chunk * Float32Array.BYTES_PER_ELEMENT]
        .map((bytes) => {
          const buffer = this.kernels.allocate(bytes);
          buffers.push(buffer);
          return buffer;
        }) as [KernelBuffer, KernelBuffer, KernelBuffer];
      for (let start = 0; start < count; start += chunk) {
        const length = Math.min(chunk, count - start);
        await Promise.all([this.readChunk(a, aBuffer, start, length, pair.name), this.readChunk(b, bBuffer, start, length, pair.name)]);
        if (dequantized) {
          const operand = (buffer: KernelBuffer, dtype: Side['dtype'], grid: Fp8ScaleGrid | undefined) => (grid ? { buffer, dtype, grid } : { buffer, dtype });
          subtractOperands(this.kernels, operand(aBuffer, a.dtype, grids[0]), operand(bBuffer, b.dtype, grids[1]), out, 'F32', length, start,
            [scratch[0]!, scratch[1]!]);
        } else {
          this.kernels.subtract(aBuffer, a.dtype, bBuffer, b.dtype, out, 'F32', length);
        }
        const difference = out.bytes;
        delta.set(new Float32Array(difference.buffer, difference.byteOffset, length), start);
      }
    } finally {
      for (const buffer of [...buffers, ...scratch, ...grids.flatMap((grid) => (grid ? [grid.scales] : []))]) this.kernels.free(buffer);
    }
    return delta;
  }

  /** One side of a pair as the subtraction reads it: a float tensor, or an FP8 weight with its scales. */
  private sideOf(ref: TensorRef | undefined, count: number, tensor: string): Side | undefined {
    if (ref === undefined) return undefined;
    const weight = this.fp8.get(ref);
    if (weight === undefined && !isFloatDtype(ref.dtype)) throw new SurgeonError('usage', `dtype ${ref.dtype} has no spectrum`, ref.file.path, tensor);
    if (ref.elementCount > count) {
      throw new SurgeonError('shape-mismatch', `${ref.elementCount} elements do not fit a ${count}-element matrix`, ref.file.path, tensor);
    }
    return weight ? { ref, dtype: weight.dtype, weight } : { ref, dtype: ref.dtype as FloatDtype };
  }

  private reusedArray(elements: number): Float32Array {
    if (this.ownStorage.length < elements) this.ownStorage = new Float32Array(elements);
    return this.ownStorage.subarray(0, elements);
  }

  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map((handle) => handle.close()));
  }

  /** Elements [start, start + length) of the side into `buffer`, zeros past the side's end. */
  private async readChunk(side: Side, buffer: KernelBuffer, start: number, length: number, tensor: string): Promise<void> {
    const elementBytes = sideBytes(side.dtype);
    const present = side.ref === undefined ? 0 : Math.max(0, Math.min(length, side.ref.elementCount - start));
    if (side.ref !== undefined && present > 0) {
      const want = present * elementBytes;
      const handle = await this.handleOf(side.ref.file.path);
      // The kernels allocate nothing while a read is in flight, so this view of their memory stays attached.
      const { bytesRead } = await handle.read(buffer.bytes, 0, want, side.ref.offset + start * elementBytes);
      if (bytesRead !== want) throw new SurgeonError('file-length', `read ${bytesRead} of ${want} bytes`, side.ref.file.path, tensor);
    }
    if (present < length) buffer.bytes.fill(0, present * elementBytes, length * elementBytes);
  }

  private async handleOf(path: string): Promise<FileHandle> {
    let handle = this.handles.get(path);
    if (handle === undefined) {
      handle = await open(path, 'r');
      this.handles.set(path, handle);
    }
    return handle;
  }
}

/** One operand of the subtraction: its tensor, or none (all zeros); an FP8 weight carries its scales. */
interface Side {
  ref: TensorRef | undefined;
  dtype: FloatDtype | Fp8Dtype;
  weight?: Fp8Weight;
}

function sideBytes(dtype: FloatDtype | Fp8Dtype): number {
  return isFp8Dtype(dtype) ? 1 : FLOAT_DTYPE_BYTES[dtype];
}
