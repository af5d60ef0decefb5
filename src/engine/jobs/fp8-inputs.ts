/**
 * FP8 inputs of the jobs (docs/fp8.md): a checkpoint whose FP8 layout `describeFp8Checkpoint` reads is seen by the jobs
 * without its scale tensors (they travel with their weights), and each FP8 weight streams as an operand whose pieces
 * are dequantized with its scales into binary32 before the float kernels see them. Only the tasks in flight hold
 * their scales in kernel memory.
 */
import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import { describeFp8Checkpoint, loadFp8ScaleGrid, summarizeFp8Checkpoint, type Fp8Checkpoint, type Fp8Weight } from '../checkpoint/fp8-scales';
import type { Dtype } from '../format/dtype';
import type { ElementwiseKernels, Fp8ScaleGrid, KernelBuffer } from '../kernels/kernel-types';
import type { KernelOperand } from '../kernels/fp8-operands';
import type { DiffReport, ReportQuantization } from '../../shared/report';
import { PIECE_SCRATCH_BYTES, type StreamHandlers, type StreamTask } from './tensor-stream';

/** A checkpoint as the jobs see it: without its scale tensors; `fp8` describes its FP8 weights, if it has any. */
export interface DequantizedView {
  checkpoint: Checkpoint;
  fp8?: Fp8Checkpoint;
}

/** The checkpoint without the scale tensors of its FP8 weights (the same checkpoint when it has none). */
export function dequantizedView(checkpoint: Checkpoint): DequantizedView {
  const fp8 = describeFp8Checkpoint(checkpoint);
  if (fp8 === undefined || fp8.scales.size === 0) return { checkpoint };
  const tensors = new Map([...checkpoint.tensors].filter(([name]) => !fp8.scales.has(name)));
  return { checkpoint: { ...checkpoint, tensors }, fp8 };
}

/** How the diff report describes a side (DiffReport.quantization): undefined for a side without FP8 weights. */
function reportQuantization(view: DequantizedView): ReportQuantization | undefined {
  if (view.fp8 === undefined) return undefined;
  const { method, layout, blockSize, weights } = summarizeFp8Checkpoint(view.fp8);
  return {
    method, layout: layout ?? 'block', ...(blockSize ? { blockSize } : {}), tensors: view.checkpoint.tensors.size, quantizedTensors: weights,
  };
}

/** The report's `quantization` of its sides A and B (a residual examined alone is side A); undefined when neither is FP8. */
export function reportQuantizations(a: DequantizedView | undefined, b: DequantizedView | undefined): DiffReport['quantization'] {
  const [quantizedA, quantizedB] = [a && reportQuantization(a), b && reportQuantization(b)];
  if (quantizedA === undefined && quantizedB === undefined) return undefined;
  return { ...(quantizedA ? { a: quantizedA } : {}), ...(quantizedB ? { b: quantizedB } : {}) };
}

/** The FP8 weights of several views, by their weight's TensorRef (the refs pairs hold). */
export function fp8WeightsOf(...views: ReadonlyArray<DequantizedView | undefined>): Map<TensorRef, Fp8Weight> {
  const weights = new Map<TensorRef, Fp8Weight>();
  for (const view of views) for (const weight of view?.fp8?.weights.values() ?? []) weights.set(weight.weight, weight);
  return weights;
}

/**
 * The scale grids of a stream's FP8 operands: loaded when a task is prepared, freed when it is released, and the
 * binary32 scratch its pieces are dequantized into. `free` returns the scratch (after the stream).
 */
export class Fp8Operands<T> {
  private readonly grids = new Map<StreamTask<T>, Array<Fp8ScaleGrid | undefined>>();
  private scratchBuffers: KernelBuffer[] | undefined;

  constructor(
    private readonly kernels: ElementwiseKernels,
    private readonly weights: ReadonlyMap<TensorRef, Fp8Weight>,
  ) {}

  /** The hooks streamTensors takes to load and free each task's scales; merged into the job's handlers. */
  hooks(): Pick<StreamHandlers<T>, 'prepareTask' | 'releaseTask'> {
    if (this.weights.size === 0) return {};
    return {
      prepareTask: async (task) => {
        const grids: Array<Fp8ScaleGrid | undefined> = [];
        this.grids.set(task, grids);
        for (const operand of task.operands) {
          const weight = operand.ref ? this.weights.get(operand.ref) : undefined;
          grids.push(weight ? await loadFp8ScaleGrid(this.kernels, weight) : undefined);
        }
      },
      releaseTask: (task) => {
        for (const grid of this.grids.get(task) ?? []) if (grid) this.kernels.free(grid.scales);
        this.grids.delete(task);
      },
    };
  }

  /** Operand `index` of a piece of `task` as the FP8-aware kernels take it. */
  operand(task: StreamTask<T>, index: number, buffer: KernelBuffer, dtype: Dtype): KernelOperand {
    const grid = this.grids.get(task)?.[index];
    return grid ? { buffer, dtype, grid } : { buffer, dtype };
  }

  /** Binary32 scratch for `index` (0, 1, 2): room for any piece's elements. */
  scratch(index: number): KernelBuffer {
    this.scratchBuffers ??= [];
    return (this.scratchBuffers[index] ??= this.kernels.allocate(PIECE_SCRATCH_BYTES));
  }

  scratchPair(): readonly [KernelBuffer, KernelBuffer] {
    return [this.scratch(0), this.scratch(1)];
  }

  free(): void {
    for (const buffer of this.scratchBuffers ?? []) this.kernels.free(buffer);
    this.scratchBuffers = undefined;
  }
}

