import { SurgeonError } from '../errors';
import { isFloatDtype, type Dtype } from '../format/dtype';
import { isFp8Dtype } from '../numerics/float8';
import { OUTPUT_DTYPES, type OutputDtype, type ResidualDtype } from '../../shared/jobs';

const REQUESTED: Readonly<Record<Exclude<OutputDtype, 'same' | 'fp8'>, Dtype>> = { f64: 'F64', f32: 'F32', bf16: 'BF16', f16: 'F16' };

/**
 * The dtype a float tensor is written in for `--dtype`; integer and bool tensors keep theirs. An FP8 weight (read
 * dequantized) is written as BF16 for `same`, and re-quantized to E4M3 for `fp8`, which leaves other tensors as they are.
 */
export function requestedDtype(source: Dtype, requested: OutputDtype): Dtype {
  // A JavaScript caller can pass anything, `auto` to apply for one: refused rather than written as no dtype.
  if (!OUTPUT_DTYPES.includes(requested)) {
    throw new SurgeonError('usage', `dtype ${JSON.stringify(requested)} is not one of ${OUTPUT_DTYPES.join(', ')}`);
  }
  if (requested === 'fp8') return isFp8Dtype(source) ? 'F8_E4M3' : source;
  if (isFp8Dtype(source)) return requested === 'same' ? 'BF16' : REQUESTED[requested];
  return !isFloatDtype(source) || requested === 'same' ? source : REQUESTED[requested];
}

/** Whether either side is an FP8 weight, dequantized (one binary32 product an element) for the arithmetic. */
function hasFp8Side(base: Dtype, instruct: Dtype): boolean {
  return isFp8Dtype(base) || isFp8Dtype(instruct);
}

/**
 * The dtype compute writes a float residual in: `auto` takes the narrowest exact one, and f64, the
 * widest, for f64 weights, which no residual dtype reproduces to the bit. FP8 weights are dequantized to binary32
 * first, and `auto` (and `same`, there being no FP8 residual) writes their difference as F32, once rounded
 * (docs/fp8.md).
 */
export function computedResidualDtype(base: Dtype, instruct: Dtype, requested: ResidualDtype): Dtype {
  if (hasFp8Side(base, instruct) && (requested === 'auto' || requested === 'same')) return 'F32';
  return requestedDtype(instruct, requested === 'auto' ? exactResidualDtype(base, instruct) ?? 'f64' : requested);
}

interface ResidualTensorDtypes {
  base: Dtype;
  instruct: Dtype;
  residual: Dtype;
}

/** Why compute wrote its float residuals in the dtypes it did, for the result and provenance.json. */
export function residualDtypeReason(requested: ResidualDtype, tensors: readonly ResidualTensorDtypes[]): string {
  const asked = requested === 'auto' ? 'auto' : `--dtype ${requested} as asked`;
  if (tensors.length === 0) return `${asked}: no float tensors, so every tensor keeps its dtype`;
  if (requested !== 'auto') {
    const isExact = (tensor: ResidualTensorDtypes): boolean => residualIsExact(tensor.residual, tensor.base, tensor.instruct);
    const exact = tensors.filter(isExact);
    const inexact = tensors.filter((tensor) => !isExact(tensor));
    if (inexact.length === 0) return `${asked}: exact for the ${weightDtypes(exact)} weights`;
    if (exact.length === 0) return `${asked}: not exact, base + residual rounds twice`;
    return `${asked}: exact for the ${weightDtypes(exact)} weights, not for the ${weightDtypes(inexact)} weights (base + residual rounds twice)`;
  }
  const fp8 = tensors.filter((tensor) => hasFp8Side(tensor.base, tensor.instruct));
  const plain = tensors.filter((tensor) => !hasFp8Side(tensor.base, tensor.instruct));
  const half = plain.filter((tensor) => exactResidualDtype(tensor.base, tensor.instruct) === 'f32');
  const single = plain.filter((tensor) => exactResidualDtype(tensor.base, tensor.instruct) === 'f64');
  const double = plain.filter((tensor) => exactResidualDtype(tensor.base, tensor.instruct) === undefined);
  const alone = [half, single, double].filter((group) => group.length > 0).length === 1;
  return `${asked}: ${[
    fp8.length > 0 ? `f32 for the ${weightDtypes(fp8)} weights, dequantized (one binary32 product each, the difference one binary32 subtraction)` : undefined,
    half.length > 0 ? `f32 is exact for the ${weightDtypes(half)} weights` : undefined,
    single.length > 0 && alone ? `f64, since the weights are ${weightDtypes(single)} (a binary32 difference of binary32 values is not exact)` : undefined,
    single.length > 0 && !alone ? `f64 is exact for the ${weightDtypes(single)} weights (a binary32 difference of binary32 values is not)` : undefined,
    double.length > 0 ? `f64, the widest, for the ${weightDtypes(double)} weights (no residual dtype reproduces F64 weights to the bit)` : undefined,
  ].filter((part) => part !== undefined).join('; ')}`;
}

const DTYPE_ORDER: readonly Dtype[] = ['F8_E4M3', 'F8_E5M2', 'BF16', 'F16', 'F32', 'F64'];

/** "BF16", "BF16 and F32": the dtypes of both sides of these tensors. */
function weightDtypes(tensors: readonly ResidualTensorDtypes[]): string {
  const present = DTYPE_ORDER.filter((dtype) => tensors.some((tensor) => tensor.base === dtype || tensor.instruct === dtype));
  return present.length <= 1 ? present.join('') : `${present.slice(0, -1).join(', ')} and ${present.at(-1)}`;
}

const HALF_PRECISION: ReadonlySet<Dtype> = new Set(['BF16', 'F16']);
/** Dequantized FP8 weights are binary32 values (a product of the byte's value and its scale). */
const SINGLE_OR_LESS: ReadonlySet<Dtype> = new Set(['BF16', 'F16', 'F32', 'F8_E4M3', 'F8_E5M2']);

/**
 * The narrowest `--dtype` whose residual makes base + residual reproduce the instruct tensor to the
 * bit: f32 for bf16/f16 weights, f64 for f32 weights (a binary32 difference of binary32 values
 * loses bits where they differ in sign or by more than 2x), none for f64 weights.
 */
export function exactResidualDtype(base: Dtype, instruct: Dtype): 'f32' | 'f64' | undefined {
  if (HALF_PRECISION.has(base) && HALF_PRECISION.has(instruct)) return 'f32';
  if (SINGLE_OR_LESS.has(base) && SINGLE_OR_LESS.has(instruct)) return 'f64';
  return undefined;
}

/** Whether a residual in `residual` is at least as precise as `exactResidualDtype` asks for. */
export function residualIsExact(residual: Dtype, base: Dtype, instruct: Dtype): boolean {
  const needed = exactResidualDtype(base, instruct);
  return needed !== undefined && (residual === 'F64' || (residual === 'F32' && needed === 'f32'));
}
