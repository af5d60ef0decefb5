import { isFloatDtype, type Dtype } from '../format/dtype';
import type { ResidualDtype } from '../../shared/jobs';

const REQUESTED: Readonly<Record<Exclude<ResidualDtype, 'same'>, Dtype>> = { f64: 'F64', f32: 'F32', bf16: 'BF16', f16: 'F16' };

/** The dtype a float tensor is written in for `--dtype`; integer and bool tensors keep theirs. */
export function requestedDtype(source: Dtype, requested: ResidualDtype): Dtype {
  return !isFloatDtype(source) || requested === 'same' ? source : REQUESTED[requested];
}

const HALF_PRECISION: ReadonlySet<Dtype> = new Set(['BF16', 'F16']);
const SINGLE_OR_LESS: ReadonlySet<Dtype> = new Set(['BF16', 'F16', 'F32']);

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
