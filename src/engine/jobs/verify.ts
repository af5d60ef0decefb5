import type { TensorRef } from '../checkpoint/checkpoint-types';
import { bytesPerElement, isFloatDtype, type Dtype } from '../format/dtype';
import { createCompareAccumulator, type CompareAccumulator, type ElementwiseKernels } from '../kernels/kernels';
import type { JobCallbacks, PlanIssue, VerifyOptions, VerifyResult, VerifyTensorResult } from '../../shared/jobs';
import { addScaledOperands, floatOperand } from '../kernels/fp8-operands';
import { isFp8Dtype } from '../numerics/float8';
import { dequantizedView, Fp8Operands, fp8WeightsOf } from './fp8-inputs';
import { runReadOnlyJob, type Inputs, type ReadPlan } from './job-pipeline';
import { elementCount, isArithmeticDtype, pairTensors, type TensorPair } from './pair-tensors';
import { residualConfigIssues } from './residual-config-hashes';
import { exactResidualDtype, residualIsExact } from './requested-dtype';
import { jobStreamOptions, streamOperand, streamTensors, type StreamHandlers, type StreamTask } from './tensor-stream';

interface VerifyTask {
  name: string;
  /** Float tensors: B + R rounded to the instruct dtype; others: R's bytes against I's. */
  arithmetic: boolean;
  /** An operand is FP8: compared in binary32, the FP8 sides dequantized with their scales. */
  dequantized: boolean;
  compare: CompareAccumulator;
}

/**
 * Streams B + R and compares it with I without writing: per tensor, the elements that match I to
 * the bit, those that differ only in the sign of zero, and the largest absolute error. Passes only
 * when every element of every tensor has the instruct element's value (+0 and -0 are one value).
 */
export async function runVerify(options: VerifyOptions, callbacks: JobCallbacks = {}): Promise<VerifyResult> {
  const inputs = { base: options.base, residual: options.residual, instruct: options.instruct };
  return runReadOnlyJob(inputs, callbacks, (opened) => planVerify(callbacks, opened));
}

function planVerify(
  callbacks: JobCallbacks, inputs: Inputs<{ base: string; residual: string; instruct: string }>,
): ReadPlan<Array<StreamTask<VerifyTask>>, VerifyResult> {
  // FP8 sides are seen without their scale tensors and compared dequantized (docs/fp8.md).
  const views = { base: dequantizedView(inputs.base), residual: dequantizedView(inputs.residual), instruct: dequantizedView(inputs.instruct) };
  const fp8Weights = fp8WeightsOf(views.base, views.residual, views.instruct);
  const [base, residual, instruct] = [views.base.checkpoint, views.residual.checkpoint, views.instruct.checkpoint];
  const applied = pairTensors(base, residual, {
    onlyInA: { severity: 'info', resolution: 'not in the residual; compared unchanged against the instruct model' },
    onlyInB: { severity: 'error', resolution: 'the residual changes a tensor the base does not have' },
    resolveTiedHead: true,
  });
  const issues: PlanIssue[] = [...residualConfigIssues(residual, instruct, 'error', ''), ...applied.issues];
  const byName = new Map(applied.pairs.map((pair) => [pair.name, pair]));
  for (const [name, ref] of instruct.tensors) {
    const pair = byName.get(name);
    const shape = pair ? (pair.b ? pair.shape : pair.a!.shape) : undefined;
    if (!pair) {
      issues.push({ severity: 'error', rule: 'missing-tensor', tensor: name, message: `${JSON.stringify(name)} is in the instruct model but neither in the base nor the residual` });
    } else if (shape && (shape.length !== ref.shape.length || shape.some((dimension, index) => dimension !== ref.shape[index]))) {
      issues.push({ severity: 'error', rule: 'shape-mismatch', tensor: name, message: `${JSON.stringify(name)}: base + residual is [${shape.join(', ')}], the instruct tensor [${ref.shape.join(', ')}]` });
    }
  }
  for (const pair of applied.pairs) {
    if (!instruct.tensors.has(pair.name)) {
      issues.push({ severity: 'error', rule: 'missing-tensor', tensor: pair.name, message: `${JSON.stringify(pair.name)} is not in the instruct model` });
    }
  }
  return {
    issues,
    async stream(kernels) {
      const tasks = [...instruct.tensors].map(([name, ref]) => verifyTask(name, byName.get(name)!, ref));
      const fp8 = new Fp8Operands<VerifyTask>(kernels, fp8Weights);
      try {
        await streamTensors(tasks, verifyHandlers(kernels, fp8), jobStreamOptions(kernels, callbacks));
      } finally {
        fp8.free();
      }
      return tasks;
    },
    result: (tasks) => verifyResult(tasks, issues),
  };
}

/** B + R against I, or, where the residual does not add (not float, or no residual tensor), R's or B's tensor against I. */
function verifyTask(name: string, pair: TensorPair, instruct: TensorRef): StreamTask<VerifyTask> {
  const arithmetic = pair.b !== undefined && pair.arithmetic && isArithmeticDtype(instruct.dtype);
  const operands = arithmetic ? [streamOperand(pair.a!), streamOperand(pair.b!)] : [streamOperand(pair.b ?? pair.a!)];
  const all = [...operands, streamOperand(instruct)];
  const dequantized = all.some((operand) => isFp8Dtype(operand.dtype)) && (arithmetic || isArithmeticDtype(all[0]!.dtype));
  return {
    name,
    elements: elementCount(instruct.shape),
    operands: all,
    context: { name, arithmetic, dequantized, compare: createCompareAccumulator() },
  };
}

function verifyHandlers(kernels: ElementwiseKernels, fp8: Fp8Operands<VerifyTask>): StreamHandlers<VerifyTask> {
  return {
    ...fp8.hooks(),
    processPiece({ task, start, count, inputs, output }) {
      const instructOperand = task.operands.at(-1)!;
      const expected = inputs[task.operands.length - 1]!;
      if (task.context.dequantized) {
        // base + R (or the unchanged tensor) against the instruct tensor, every FP8 side dequantized: in binary32 when
        // the instruct tensor is FP8, else rounded to its dtype as for other tensors.
        const last = task.operands.length - 1;
        const wanted = floatOperand(kernels, fp8.operand(task, last, expected, instructOperand.dtype), count, start, fp8.scratch(2));
        const operand = (index: number): ReturnType<Fp8Operands<VerifyTask>['operand']> => fp8.operand(task, index, inputs[index]!, task.operands[index]!.dtype);
        if (task.context.arithmetic) {
          addScaledOperands(kernels, operand(0), operand(1), 1, output, wanted.dtype, count, start, fp8.scratchPair());
          kernels.compare(output, wanted.dtype, wanted.buffer, wanted.dtype, count, task.context.compare);
        } else {
          const actual = floatOperand(kernels, operand(0), count, start, fp8.scratch(0));
          kernels.compare(actual.buffer, actual.dtype, wanted.buffer, wanted.dtype, count, task.context.compare);
        }
        return;
      }
      if (task.context.arithmetic) {
        kernels.addScaled(inputs[0]!, task.operands[0]!.dtype, inputs[1]!, task.operands[1]!.dtype, 1, output, instructOperand.dtype, count);
        kernels.compare(output, instructOperand.dtype, expected, instructOperand.dtype, count, task.context.compare);
      } else if (isFloatDtype(task.operands[0]!.dtype) && isFloatDtype(instructOperand.dtype)) {
        kernels.compare(inputs[0]!, task.operands[0]!.dtype, expected, instructOperand.dtype, count, task.context.compare);
      } else {
        countEqualElements(inputs[0]!.bytes, expected.bytes, count, bytesPerElement(instructOperand.dtype) ?? 1, task.context.compare);
      }
    },
  };
}

function verifyResult(tasks: ReadonlyArray<StreamTask<VerifyTask>>, issues: PlanIssue[]): VerifyResult {
  const tensors: VerifyTensorResult[] = tasks.map((task) => ({
    name: task.name,
    elements: task.elements,
    identical: task.context.compare.identical,
    signedZeroOnly: task.context.compare.signedZeroOnly,
    maxAbsError: task.context.compare.maxAbsError,
  }));
  const elements = tensors.reduce((sum, tensor) => sum + tensor.elements, 0);
  const identical = tensors.reduce((sum, tensor) => sum + tensor.identical, 0);
  const signedZeroOnly = tensors.reduce((sum, tensor) => sum + tensor.signedZeroOnly, 0);
  const dequantized = tasks.filter((task) => task.context.dequantized).map((task) => task.name);
  const precision = residualPrecisionIssue(tasks.filter((task) => !sameValues(task.context.compare, task.elements)));
  if (precision) issues.push(precision);
  const signedZeros = signedZeroIssue(tensors);
  if (signedZeros) issues.push(signedZeros);
  return {
    kind: 'verify',
    ok: identical + signedZeroOnly === elements,
    elements,
    identical,
    signedZeroOnly,
    maxAbsError: Math.max(0, ...tensors.map((tensor) => tensor.maxAbsError)),
    tensors,
    ...(dequantized.length > 0 ? { dequantized } : {}),
    issues,
    seconds: 0,
  };
}

function sameValues(compare: CompareAccumulator, elements: number): boolean {
  return compare.identical + compare.signedZeroOnly === elements;
}

/**
 * An instruct -0 over a base zero comes back as +0 (zeros of opposite signs sum to +0, and -0 - -0 is +0):
 * the same value, so only a note.
 */
function signedZeroIssue(tensors: readonly VerifyTensorResult[]): PlanIssue | undefined {
  const affected = tensors.filter((tensor) => tensor.signedZeroOnly > 0);
  const first = affected[0];
  if (first === undefined) return undefined;
  const count = affected.reduce((sum, tensor) => sum + tensor.signedZeroOnly, 0);
  return {
    severity: 'info',
    rule: 'signed-zero',
    tensor: first.name,
    message: `${count} ${count === 1 ? 'element differs' : 'elements differ'} from the instruct model only in the sign of zero`
      + ` (+0 against -0) in ${affected.length} ${affected.length === 1 ? 'tensor' : 'tensors'}, first ${JSON.stringify(first.name)}:`
      + ' the same value, so not a mismatch',
  };
}

/**
 * Mismatches that the residual's dtype explains: base + residual rounds twice, so a residual no more
 * precise than the weights can miss by a unit in the last place without anything being wrong.
 */
function residualPrecisionIssue(mismatched: ReadonlyArray<StreamTask<VerifyTask>>): PlanIssue | undefined {
  const explained = mismatched.filter((task) => task.context.arithmetic
    && !residualIsExact(task.operands[1]!.dtype, task.operands[0]!.dtype, task.operands[2]!.dtype));
  const first = explained[0];
  if (first === undefined) return undefined;
  const [base, residual, instruct] = first.operands.map((operand) => operand.dtype) as [Dtype, Dtype, Dtype];
  const exact = explained.map((task) => exactResidualDtype(task.operands[0]!.dtype, task.operands[2]!.dtype));
  const advice = exact.includes(undefined)
    ? 'no residual dtype reproduces f64 weights to the bit'
    : `a residual computed with --dtype ${exact.includes('f64') ? 'f64' : 'f32'} verifies to the bit`;
  const which = explained.length < mismatched.length
    ? `${explained.length} of ${mismatched.length} mismatching tensors ${explained.length === 1 ? 'has' : 'have'}`
    : mismatched.length === 1 ? 'the one mismatching tensor has' : `all ${mismatched.length} mismatching tensors have`;
  return {
    severity: 'warning',
    rule: 'inexact-residual',
    tensor: first.name,
    message: `${which} a residual too narrow to be exact (first ${JSON.stringify(first.name)}: residual ${residual}, `
      + `base ${base}, instruct ${instruct}): base + residual rounds twice, so elements can miss in the last place; ${advice}`,
  };
}

/** Integer and bool tensors: element by element byte equality. */
function countEqualElements(actual: Uint8Array, expected: Uint8Array, count: number, size: number, acc: CompareAccumulator): void {
  for (let element = 0; element < count; element++) {
    let same = true;
    for (let byte = element * size; byte < (element + 1) * size; byte++) {
      if (actual[byte] !== expected[byte]) {
        same = false;
        break;
      }
    }
    if (same) acc.identical++;
  }
  acc.count += count;
}
