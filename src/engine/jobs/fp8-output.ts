/**
 * Writing FP8 weights (apply --dtype fp8, docs/fp8.md): the binary32 result M = C + alpha * R is gathered a band of
 * 128 rows at a time and re-quantized to E4M3 with a fresh scale per 128 x 128 block (`quantizeE4m3Blocks`), so the
 * memory is one band, whatever the weight's size.
 *
 * safetensors' reference order puts a file's F32 tensors before its F8 ones, so a weight's `weight_scale_inv` is
 * written before the weight: each re-quantized weight streams twice, once for its scales (written band by band where
 * the scale tensor goes) and once for its bytes. Both passes run the same arithmetic on the same inputs, so the
 * second finds the scales the first wrote.
 */
import { SurgeonError } from '../errors';
import type { ElementwiseKernels, KernelBuffer } from '../kernels/kernel-types';
import type { TensorLocation } from './sharded-output';

/** DeepSeek's block, the one `--dtype fp8` writes. */
export const FP8_OUTPUT_BLOCK = 128;

/** Which half of a re-quantized weight a stream task writes. */
type Fp8OutputPart = 'scales' | 'bytes';

export interface Fp8OutputTarget {
  part: Fp8OutputPart;
  rows: number;
  columns: number;
  /** Where the part goes: the scale tensor's data for `scales`, the weight's for `bytes`. */
  location: TensorLocation;
}

/** Gathers binary32 pieces into bands of 128 rows and writes each band's part once it is full. */
export class BandQuantizer {
  private band: KernelBuffer | undefined;
  private bytes: KernelBuffer | undefined;
  private scales: KernelBuffer | undefined;
  private capacity = 0;
  /** Elements of the current band gathered so far, and the band's index in its weight. */
  private filled = 0;
  private bandIndex = 0;

  constructor(private readonly kernels: ElementwiseKernels) {}

  /**
   * Takes the `count` binary32 elements of `values` that start at element `start` of the weight, and writes every band
   * they complete; returns the promise of those writes, in order. `tensor` and `file` name a refusal.
   */
  push(target: Fp8OutputTarget, values: KernelBuffer, start: number, count: number, tensor: string, file: string): Promise<void> {
    const { rows, columns } = target;
    if (start === 0) this.begin(columns);
    const writes: Array<Promise<void>> = [];
    let taken = 0;
    while (taken < count) {
      const bandRows = Math.min(FP8_OUTPUT_BLOCK, rows - this.bandIndex * FP8_OUTPUT_BLOCK);
      const bandElements = bandRows * columns;
      const take = Math.min(count - taken, bandElements - this.filled);
      this.band!.bytes.set(values.bytes.subarray(taken * 4, (taken + take) * 4), this.filled * 4);
      this.filled += take;
      taken += take;
      if (this.filled === bandElements) {
        writes.push(this.writeBand(target, bandRows, tensor, file));
        this.filled = 0;
        this.bandIndex++;
      }
    }
    return Promise.all(writes).then(() => undefined);
  }

  free(): void {
    for (const buffer of [this.band, this.bytes, this.scales]) if (buffer) this.kernels.free(buffer);
    this.band = this.bytes = this.scales = undefined;
    this.capacity = 0;
  }

  private begin(columns: number): void {
    this.filled = 0;
    this.bandIndex = 0;
    if (columns <= this.capacity) return;
    this.free();
    this.capacity = columns;
    this.band = this.kernels.allocate(FP8_OUTPUT_BLOCK * columns * 4);
    this.bytes = this.kernels.allocate(FP8_OUTPUT_BLOCK * columns);
    this.scales = this.kernels.allocate(Math.ceil(columns / FP8_OUTPUT_BLOCK) * 4);
  }

  /** Quantizes the full band and writes its part: its E4M3 bytes, or its row of scales. */
  private writeBand(target: Fp8OutputTarget, bandRows: number, tensor: string, file: string): Promise<void> {
    const { columns, location } = target;
    const grid = { scales: this.scales!, columns, blockRows: FP8_OUTPUT_BLOCK, blockColumns: FP8_OUTPUT_BLOCK };
    const nonFinite = this.kernels.quantizeE4m3Blocks(this.band!, this.bytes!, bandRows, grid);
    if (nonFinite > 0) {
      throw new SurgeonError('non-finite-result',
        `${nonFinite} ${nonFinite === 1 ? 'block' : 'blocks'} of rows ${this.bandIndex * FP8_OUTPUT_BLOCK} to ${this.bandIndex * FP8_OUTPUT_BLOCK + bandRows - 1} `
        + 'would hold an infinity or NaN, which E4M3 cannot hold with a finite scale; nothing was written', file, tensor);
    }
    // Copies: the kernel buffers take the next band while these are written.
    if (target.part === 'bytes') {
      const bytes = this.bytes!.bytes.slice(0, bandRows * columns);
      return location.file.write(bytes, location.offset + this.bandIndex * FP8_OUTPUT_BLOCK * columns);
    }
    const scaleBytes = Math.ceil(columns / FP8_OUTPUT_BLOCK) * 4;
    return location.file.write(this.scales!.bytes.slice(0, scaleBytes), location.offset + this.bandIndex * scaleBytes);
  }
}
