import { open, type FileHandle } from 'node:fs/promises';
import type { TensorRef } from '../checkpoint/checkpoint-types';
import { SurgeonError } from '../errors';
import { isFloatDtype, type FloatDtype } from '../format/dtype';
import { FLOAT_DTYPE_BYTES } from '../kernels/kernel-arguments';
import type { ElementwiseKernels, KernelBuffer } from '../kernels/kernels';
import type { TensorPair } from './pair-tensors';

/** Elements per read of each side: 2 MiB of a bf16 side, 4 MiB of the f32 difference. */
const DELTA_CHUNK_ELEMENTS = 1 << 20;

/** Where a matrix of `elements` values goes: an array valid until the next call (a matrix backend's matrixStorage). */
export type MatrixStorage = (elements: number) => Float32Array;

export interface DeltaMatrixReaderOptions {
  chunkElements?: number;
  /** Where the differences land; one array of this reader's, reused for every matrix, when absent. */
  storage?: MatrixStorage;
}

/**
 * Reads B - A of one matrix after another as row-major f32, for the spectral pass. Each chunk of
 * both sides is read straight into the kernels' memory and subtracted there, so the values are the
 * bits an f32 residual of the pair holds (`compute --dtype f32`; PyTorch's `b.float() - a.float()`
 * unless a side is F64, which computes in binary64 and rounds once). The difference lands in the
 * matrix backend's own storage where it has one, else in one array reused for every matrix: a fresh
 * array of up to 1 GiB per matrix would fault its pages in anew.
 */
export class DeltaMatrixReader {
  private readonly handles = new Map<string, FileHandle>();
  private readonly chunkElements: number;
  private readonly storage: MatrixStorage;
  private ownStorage = new Float32Array(0);

  constructor(private readonly kernels: ElementwiseKernels, options: DeltaMatrixReaderOptions = {}) {
    this.chunkElements = options.chunkElements ?? DELTA_CHUNK_ELEMENTS;
    this.storage = options.storage ?? ((elements) => this.reusedArray(elements));
  }

  /**
   * B - A as a row-major f32 matrix of pair.shape; rows a side lacks (vocabulary growth) read as
   * zeros, as does a missing side A (a residual read alone). The array is valid until the next call.
   */
  async read(pair: TensorPair): Promise<Float32Array> {
    const count = pair.shape.reduce((product, size) => product * size, 1);
    const b = sideOf(pair.b, count, pair.name);
    const a = sideOf(pair.a, count, pair.name) ?? (b && { ...b, ref: undefined });
    if (a === undefined || b === undefined) throw new SurgeonError('usage', 'a spectrum needs side B of the pair', undefined, pair.name);
    const delta = this.storage(count);
    const chunk = Math.min(count, this.chunkElements);
    const aBuffer = this.kernels.allocate(chunk * FLOAT_DTYPE_BYTES[a.dtype]);
    const bBuffer = this.kernels.allocate(chunk * FLOAT_DTYPE_BYTES[b.dtype]);
    const out = this.kernels.allocate(chunk * Float32Array.BYTES_PER_ELEMENT);
    try {
      for (let start = 0; start < count; start += chunk) {
        const length = Math.min(chunk, count - start);
        await Promise.all([this.readChunk(a, aBuffer, start, length, pair.name), this.readChunk(b, bBuffer, start, length, pair.name)]);
        this.kernels.subtract(aBuffer, a.dtype, bBuffer, b.dtype, out, 'F32', length);
        const difference = out.bytes;
        delta.set(new Float32Array(difference.buffer, difference.byteOffset, length), start);
      }
    } finally {
      for (const buffer of [aBuffer, bBuffer, out]) this.kernels.free(buffer);
    }
    return delta;
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
    const elementBytes = FLOAT_DTYPE_BYTES[side.dtype];
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

/** One operand of the subtraction: its tensor, or none (all zeros, in the other side's dtype). */
interface Side {
  ref: TensorRef | undefined;
  dtype: FloatDtype;
}

function sideOf(ref: TensorRef | undefined, count: number, tensor: string): Side | undefined {
  if (ref === undefined) return undefined;
  if (!isFloatDtype(ref.dtype)) throw new SurgeonError('usage', `dtype ${ref.dtype} has no spectrum`, ref.file.path, tensor);
  if (ref.elementCount > count) {
    throw new SurgeonError('shape-mismatch', `${ref.elementCount} elements do not fit a ${count}-element matrix`, ref.file.path, tensor);
  }
  return { ref, dtype: ref.dtype };
}
