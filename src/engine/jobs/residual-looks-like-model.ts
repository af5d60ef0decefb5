import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import { readTensorBytes } from '../checkpoint/read-tensor-bytes';
import { isFloatDtype } from '../format/dtype';
import { floatValues } from '../numerics/float-values';
import type { PlanIssue } from '../../shared/jobs';

/** Elements read from each side at most: the norm vectors of a 70B model are about 1.3M; a sample is enough. */
const SAMPLE_ELEMENTS = 1 << 20;
/**
 * ||R|| / ||C|| over the sampled tensors above which R is taken for a whole model. Instruction tuning moves
 * norm weights by a few percent; a model of the same family as C has about C's norm (ratio near 1).
 */
const MODEL_NORM_RATIO = 0.5;

/**
 * Apply's test that `--residual` is a residual and not a whole model, before the heavy pass: the
 * smallest float tensors both sides hold with the same shape (the norm vectors, in transformer
 * checkpoints) are read, and a residual whose norm there is comparable to the target's is refused.
 */
export async function residualLooksLikeModel(target: Checkpoint, residual: Checkpoint, force: boolean): Promise<PlanIssue[]> {
  const sample = sampledPairs(target, residual);
  if (sample.length === 0) return [];
  let targetSquares = 0;
  let residualSquares = 0;
  for (const [targetRef, residualRef] of sample) {
    targetSquares += sumOfSquares(targetRef, await readTensorBytes(targetRef));
    residualSquares += sumOfSquares(residualRef, await readTensorBytes(residualRef));
  }
  // A target whose sampled tensors are all zero says nothing about what a residual of it looks like.
  if (!(targetSquares > 0)) return [];
  const ratio = Math.sqrt(residualSquares / targetSquares);
  if (!(ratio > MODEL_NORM_RATIO)) return [];
  const names = sample.map(([ref]) => ref.name);
  return [{
    severity: force ? 'warning' : 'error',
    rule: 'residual-is-model',
    file: residual.root,
    tensor: names[0]!,
    message: `the residual looks like a whole model, not a difference of two: over ${names.length} of its smallest tensors `
      + `(${JSON.stringify(names[0])}${names.length > 1 ? ', ...' : ''}) its norm is ${ratio.toPrecision(3)} times the target's, `
      + `where an instruction residual's is a few percent; applying it would add two models. Compute the residual first `
      + `(checkpoint-surgeon compute --base <base> --instruct ${residual.root} --out <residual>)`
      + (force ? ' (going on: --force)' : ', or use --force if it really is a residual'),
  }];
}

/** Norm weights in the common families: `input_layernorm`, `post_attention_layernorm`, `norm`, `ln_f`, `ln_1`. */
const NORM_NAME = /norm|(^|\.)ln_/i;

/**
 * Same-named float tensors of equal shape, smallest first, up to the sample budget: the norm weights where
 * there are any (a zero-initialised bias would make any residual look large beside it).
 */
function sampledPairs(target: Checkpoint, residual: Checkpoint): Array<[TensorRef, TensorRef]> {
  const candidates: Array<[TensorRef, TensorRef]> = [];
  for (const [name, residualRef] of residual.tensors) {
    const targetRef = target.tensors.get(name);
    if (!targetRef || !isFloatDtype(targetRef.dtype) || !isFloatDtype(residualRef.dtype)) continue;
    if (targetRef.shape.join(',') !== residualRef.shape.join(',') || targetRef.elementCount > SAMPLE_ELEMENTS) continue;
    candidates.push([targetRef, residualRef]);
  }
  const norms = candidates.filter(([ref]) => NORM_NAME.test(ref.name));
  const chosen = (norms.length > 0 ? norms : candidates).sort((x, y) => x[0].elementCount - y[0].elementCount);
  const sample: Array<[TensorRef, TensorRef]> = [];
  let elements = 0;
  for (const pair of chosen) {
    if (elements + pair[0].elementCount > SAMPLE_ELEMENTS) break;
    sample.push(pair);
    elements += pair[0].elementCount;
  }
  return sample;
}

function sumOfSquares(ref: TensorRef, bytes: Uint8Array): number {
  if (!isFloatDtype(ref.dtype)) return 0;
  let sum = 0;
  for (const value of floatValues(bytes, ref.dtype, 0, ref.elementCount)) if (Number.isFinite(value)) sum += value * value;
  return sum;
}
