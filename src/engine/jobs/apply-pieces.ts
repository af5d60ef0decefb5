import { SurgeonError } from '../errors';
import { bytesPerElement, isFloatDtype, type Dtype, type FloatDtype } from '../format/dtype';
import type { ElementwiseKernels, KernelBuffer } from '../kernels/kernels';
import { addScaledOperands, floatOperand } from '../kernels/fp8-operands';
import { isFp8Dtype } from '../numerics/float8';
import type { Fp8Operands } from './fp8-inputs';
import type { BandQuantizer, Fp8OutputTarget } from './fp8-output';
import { firstNewNonFinite } from '../kernels/non-finite';
import type { TensorPair } from './pair-tensors';
import type { StreamHandlers, StreamPiece } from './tensor-stream';

export interface ApplyTask {
  pair: TensorPair;
  /** Add the residual (false: copy the target's tensor). */
  add: boolean;
  /** Re-quantized to E4M3 (--dtype fp8): the part of the weight this stream task writes, band by band. */
  fp8Output?: Fp8OutputTarget;
}

/** A piece's R where it is not the task's second operand: a LoRA adapter's ΔW, computed for the piece (apply-adapter.ts). */
export type PieceResidual = (piece: StreamPiece<ApplyTask>) => PieceOperand;

const secondOperand: PieceResidual = ({ inputs, task }) => ({ buffer: inputs[1]!, dtype: task.operands[1]!.dtype });

/**
 * M = C + scale * R per piece (or C converted, or copied), refusing a result that overflowed. An FP8 C (or R) is
 * dequantized with its scales first (`fp8`): one binary32 product an element, then the same one rounding. R is the
 * task's second operand unless `residualOf` gives it.
 */
export function applyHandlers(
  kernels: ElementwiseKernels, scale: number, fp8?: Fp8Operands<ApplyTask>, bands?: BandQuantizer, residualOf: PieceResidual = secondOperand,
): StreamHandlers<ApplyTask> {
  return {
    ...fp8?.hooks(),
    processPiece(piece) {
      const { task, start, count, inputs, output: out } = piece;
      const [c] = inputs;
      const residual = task.context.add ? residualOf(piece) : undefined;
      const r = residual?.buffer;
      const rDtype = residual?.dtype;
      const outDtype = task.output!.dtype;
      const cDtype = task.operands[0]!.dtype;
      const target = task.context.fp8Output;
      if (fp8 && bands && target) {
        // M in binary32, gathered into bands of 128 rows and re-quantized with fresh block scales.
        const file = task.context.pair.a!.file.path;
        const [cScratch, rScratch] = fp8.scratchPair();
        const cOperand = fp8.operand(task, 0, c!, cDtype);
        let values: PieceOperand;
        if (task.context.add) {
          values = { buffer: fp8.scratch(2), dtype: 'F32' };
          addScaledOperands(kernels, cOperand, fp8.operand(task, 1, r!, rDtype!), scale, values.buffer, 'F32', count, start, [cScratch, rScratch]);
          const seen = (buffer: KernelBuffer, dtype: Dtype, scratch: KernelBuffer): PieceOperand => (isFp8Dtype(dtype) ? { buffer: scratch, dtype: 'F32' } : { buffer, dtype });
          refuseNewNonFinite(kernels, file, task.name, [seen(c!, cDtype, cScratch), seen(r!, rDtype!, rScratch)], values, count, start, scale);
        } else {
          values = floatOperand(kernels, cOperand, count, start, cScratch);
        }
        return bands.push(target, values.buffer, start, count, task.name, file);
      }
      const converts = task.context.add || cDtype !== outDtype;
      if (fp8 && converts && (isFp8Dtype(cDtype) || (rDtype !== undefined && isFp8Dtype(rDtype)))) {
        const file = task.context.pair.a!.file.path;
        const [cScratch, rScratch] = fp8.scratchPair();
        const cOperand = fp8.operand(task, 0, c!, cDtype);
        if (task.context.add) {
          addScaledOperands(kernels, cOperand, fp8.operand(task, 1, r!, rDtype!), scale, out, outDtype, count, start, [cScratch, rScratch]);
          const seen = (buffer: KernelBuffer, dtype: Dtype, scratch: KernelBuffer): PieceOperand => (isFp8Dtype(dtype) ? { buffer: scratch, dtype: 'F32' } : { buffer, dtype });
          refuseNewNonFinite(kernels, file, task.name, [seen(c!, cDtype, cScratch), seen(r!, rDtype!, rScratch)], { buffer: out, dtype: outDtype }, count, start, scale);
        } else {
          const dequantized = floatOperand(kernels, cOperand, count, start, cScratch);
          kernels.convert(dequantized.buffer, dequantized.dtype, out, outDtype, count);
          refuseNewNonFinite(kernels, file, task.name, [dequantized], { buffer: out, dtype: outDtype }, count, start, scale);
        }
        return;
      }
      if (task.context.add) {
        kernels.addScaled(c!, cDtype, r!, rDtype!, scale, out, outDtype, count);
        refuseNewNonFinite(kernels, task.context.pair.a!.file.path, task.name, [{ buffer: c!, dtype: cDtype }, residual!], { buffer: out, dtype: outDtype }, count, start, scale);
      } else if (cDtype !== outDtype && isFloatDtype(cDtype)) {
        kernels.convert(c!, cDtype, out, outDtype, count);
        refuseNewNonFinite(kernels, task.context.pair.a!.file.path, task.name, [{ buffer: c!, dtype: cDtype }], { buffer: out, dtype: outDtype }, count, start, scale);
      } else {
        out.bytes.set(c!.bytes.subarray(0, count * (bytesPerElement(cDtype) ?? 1)));
      }
    },
  };
}

export interface PieceOperand {
  buffer: KernelBuffer;
  dtype: Dtype;
}

/**
 * Refuses an output element that is infinite or NaN although its inputs are finite: the scale or the
 * output dtype overflowed. The kernels' check is one SIMD pass; the element is looked for only then.
 */
function refuseNewNonFinite(
  kernels: ElementwiseKernels, file: string, tensor: string, inputs: readonly PieceOperand[], out: PieceOperand, count: number, start: number, scale: number,
): void {
  if (!isFloatDtype(out.dtype) || !kernels.anyNonFinite(out.buffer, out.dtype, count)) return;
  const floatOperand = ({ buffer, dtype }: PieceOperand): { bytes: Uint8Array; dtype: FloatDtype } => ({ bytes: buffer.bytes, dtype: dtype as FloatDtype });
  const found = firstNewNonFinite(inputs.map(floatOperand), floatOperand(out), count);
  if (!found) return;
  const [c, r] = found.inputs;
  const formula = r === undefined ? `converting ${c} to ${out.dtype}` : `${c} + ${scale} * ${r}`;
  throw new SurgeonError('non-finite-result',
    `element ${start + found.index} would be ${found.result} in ${out.dtype} (${formula}) although the inputs are finite: `
    + `the scale ${scale} or the output dtype overflows; nothing was written`, file, tensor);
}
