import type { TensorRef } from '../checkpoint/checkpoint-types';
import type { Fp8Weight } from '../checkpoint/fp8-scales';
import { bytesPerElement, isFloatDtype, type Dtype } from '../format/dtype';
import { subtractOperands } from '../kernels/fp8-operands';
import { isFp8Dtype } from '../numerics/float8';
import { createDeltaStatistics, finalizeHistogram, type DeltaStatistics, type ElementwiseKernels, type KernelBuffer } from '../kernels/kernels';
import { finishTensorStats } from '../report/delta-stats';
import { parseTensorName } from '../report/layer-names';
import type { JobCallbacks } from '../../shared/jobs';
import type { TensorReport } from '../../shared/report';
import { Fp8Operands } from './fp8-inputs';
import { elementCount, type TensorPair } from './pair-tensors';
import type { ShardedOutput } from './sharded-output';
import { jobStreamOptions, streamOperand, streamTensors, type InputReading, type StreamOperand, type StreamTask } from './tensor-stream';

export interface DeltaPassOutput {
  weights: ShardedOutput;
  /** The residual's dtype for a pair (only called for pairs that are written). */
  dtypeOf(pair: TensorPair): Dtype;
}

interface PassContext {
  pair: TensorPair;
  /** Float pairs: computed with the kernels (with `stats` unless the pass skips statistics). */
  arithmetic: boolean;
  withStats: boolean;
  /**
   * The tensor's statistics while it streams: created at its first piece and dropped when it is reported, so
   * only the tensors in flight hold a 512 KiB histogram, however many tensors the model has.
   */
  stats?: DeltaStatistics;
  /** Non-float tensors: still equal so far. */
  equal: boolean;
}

/**
 * One streaming pass over paired tensors: the statistics of B - A for every comparable pair and,
 * when `output` is given, the residual B - A narrowed to its dtype (non-float tensors are copied
 * from B). `compute` and `diff` are this pass with and without an output.
 */
export async function runDeltaPass(
  pairs: readonly TensorPair[],
  kernels: ElementwiseKernels,
  callbacks: JobCallbacks & {
    output?: DeltaPassOutput; statistics?: boolean; inputReading?: Promise<InputReading>;
    /** The FP8 weights of either side (jobs/fp8-inputs.ts): dequantized with their scales, the statistics of the binary32 delta. */
    fp8?: ReadonlyMap<TensorRef, Fp8Weight>;
  },
): Promise<TensorReport[]> {
  const reports = new Map<string, TensorReport>();
  const tasks: Array<StreamTask<PassContext>> = [];
  for (const pair of pairs) {
    if (!pair.comparable || !pair.b) {
      reports.set(pair.name, tensorReport(pair));
      continue;
    }
    // Without side A (a residual examined alone) A reads as zeros, so the delta is B itself.
    const a: StreamOperand = pair.a ? streamOperand(pair.a) : { ref: undefined, dtype: isFp8Dtype(pair.b.dtype) ? 'F32' : pair.b.dtype, presentElements: 0 };
    const output = callbacks.output;
    const outDtype = output ? output.dtypeOf(pair) : undefined;
    tasks.push({
      name: pair.name,
      elements: elementCount(pair.shape),
      operands: [a, streamOperand(pair.b)],
      ...(output && outDtype ? { output: { ...output.weights.locate(pair.name), dtype: outDtype } } : {}),
      context: { pair, equal: true, arithmetic: pair.arithmetic, withStats: pair.arithmetic && callbacks.statistics !== false },
    });
  }

  const fp8 = new Fp8Operands<PassContext>(kernels, callbacks.fp8 ?? new Map());
  try {
    await streamTensors(tasks, {
      ...fp8.hooks(),
      processPiece({ task, start, count, inputs, output }) {
        const { arithmetic, withStats } = task.context;
        const stats = withStats ? (task.context.stats ??= createDeltaStatistics()) : undefined;
        const [a, b] = inputs as [KernelBuffer, KernelBuffer];
        const [aOperand, bOperand] = task.operands as [StreamOperand, StreamOperand];
        if (arithmetic) {
          const outDtype = task.output?.dtype ?? scratchDtype(aOperand.dtype, bOperand.dtype);
          if (isFp8Dtype(aOperand.dtype) || isFp8Dtype(bOperand.dtype)) {
            subtractOperands(kernels, fp8.operand(task, 0, a, aOperand.dtype), fp8.operand(task, 1, b, bOperand.dtype),
              output, outDtype, count, start, fp8.scratchPair(), stats);
          } else {
            kernels.subtract(a, aOperand.dtype, b, bOperand.dtype, output, outDtype, count, stats);
          }
          return;
        }
        // Integer and bool tensors: compared for equality, and B's bytes are what a residual stores.
        const bytes = count * (bytesPerElement(bOperand.dtype) ?? 1);
        const aBytes = a.bytes.subarray(0, bytes);
        const bBytes = b.bytes.subarray(0, bytes);
        if (task.context.equal && !Buffer.from(aBytes.buffer, aBytes.byteOffset, bytes).equals(Buffer.from(bBytes.buffer, bBytes.byteOffset, bytes))) {
          task.context.equal = false;
        }
        if (task.output) output.bytes.set(bBytes);
      },
      finishTask(task) {
        const { context } = task;
        if (context.withStats) context.stats ??= createDeltaStatistics();
        const report = tensorReport(context.pair, context);
        context.stats = undefined;
        reports.set(task.name, report);
        callbacks.onTensor?.(report);
      },
    }, jobStreamOptions(kernels, callbacks, callbacks.inputReading));
  } finally {
    fp8.free();
  }

  return pairs.map((pair) => reports.get(pair.name)!);
}

/**
 * Where a pass without an output lets the kernel write the delta: the operands' own dtype when they share
 * one (the fused kernels exist for those), else binary32. The statistics are of the unrounded delta either way.
 */
function scratchDtype(aDtype: Dtype, bDtype: Dtype): Dtype {
  return aDtype === bDtype && aDtype !== 'F64' && isFloatDtype(aDtype) ? aDtype : 'F32';
}

export function tensorReport(pair: TensorPair, context?: PassContext): TensorReport {
  const location = parseTensorName(pair.name);
  const report: TensorReport = {
    name: pair.name,
    status: pair.status,
    ...(pair.a ? { a: { dtype: pair.a.dtype, shape: pair.a.shape } } : {}),
    ...(pair.b ? { b: { dtype: pair.b.dtype, shape: pair.b.shape } } : {}),
    layer: location.layer,
    module: location.module,
    ...(pair.resolution ? { resolution: pair.resolution } : {}),
  };
  if (!context) return report;
  report.elements = elementCount(pair.shape);
  if (context.stats) {
    // The kernels count every element; the statistics divide by the finite ones, which the sums hold.
    const finite = context.stats.count - context.stats.nonFinite;
    const stats = finishTensorStats({ ...context.stats, count: finite, histogram: finalizeHistogram(context.stats) });
    Object.assign(report, stats);
    if (pair.status === 'changed' && context.stats.unchanged === finite && context.stats.nonFinite === 0) report.status = 'unchanged';
  } else if (pair.status === 'changed' && !context.arithmetic && context.equal) {
    report.status = 'unchanged';
  }
  return report;
}
