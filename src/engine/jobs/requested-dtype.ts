import { isFloatDtype, type Dtype } from '../format/dtype';
import type { ResidualDtype } from '../../shared/jobs';

const REQUESTED: Readonly<Record<Exclude<ResidualDtype, 'same'>, Dtype>> = { f64: 'F64', f32: 'F32', bf16: 'BF16', f16: 'F16' };

/** The dtype a float tensor is written in for `--dtype`; integer and bool tensors keep theirs. */
export function requestedDtype(source: Dtype, requested: ResidualDtype): Dtype {
  return !isFloatDtype(source) || requested === 'same' ? source : REQUESTED[requested];
}
