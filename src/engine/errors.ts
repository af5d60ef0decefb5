/**
 * One error type for every refusal the engine makes. The message always names the file and,
 * where there is one, the tensor and the rule, so a user can act on it without a stack trace.
 */
export type RefusalRule =
  | 'header-too-small' | 'header-too-large' | 'header-not-utf8' | 'header-not-json'
  | 'header-schema' | 'duplicate-key' | 'invalid-json' | 'unknown-dtype' | 'metadata' | 'offsets'
  | 'size-overflow' | 'byte-length' | 'file-length' | 'lfs-pointer'
  | 'index' | 'shard-path' | 'missing-shard' | 'duplicate-tensor' | 'no-weights'
  | 'mixed-models' | 'missing-tensor' | 'shape-mismatch' | 'dtype-mismatch'
  | 'incompatible-config' | 'output-exists' | 'output-busy' | 'output-overlaps-input' | 'output-not-ours' | 'input-changed'
  | 'cancelled' | 'io' | 'usage' | 'hub'
  | 'matrix-too-large' | 'non-finite-matrix' | 'kernel-memory' | 'non-finite-result'
  | 'quantized-checkpoint' | 'not-safetensors' | 'same-model'
  | 'unknown-scale-layout' | 'nothing-to-factor';

export class SurgeonError extends Error {
  override readonly name = 'SurgeonError';
  constructor(
    readonly rule: RefusalRule,
    readonly detail: string,
    readonly file?: string,
    readonly tensor?: string,
    /** `rulesInDetail`: the detail lists problems that each name their own rule, so the message adds none. */
    options: { rulesInDetail?: boolean } = {},
  ) {
    super(formatRefusal(rule, detail, file, tensor, options.rulesInDetail === true));
  }
}

function formatRefusal(rule: RefusalRule, detail: string, file: string | undefined, tensor: string | undefined, rulesInDetail: boolean): string {
  const where = [file, tensor === undefined ? undefined : `tensor ${JSON.stringify(tensor)}`]
    .filter((part): part is string => part !== undefined)
    .join(', ');
  return `${where ? `${where}: ` : ''}${detail}${rulesInDetail ? '' : ` [${rule}]`}`;
}

export function isSurgeonError(error: unknown): error is SurgeonError {
  return error instanceof SurgeonError;
}

/** The one refusal a cancelled job ends with; `what` names the work that stopped (`the job` unless a part says more). */
export function cancelledError(what = 'the job', file?: string, tensor?: string): SurgeonError {
  return new SurgeonError('cancelled', `${what} was cancelled`, file, tensor);
}
