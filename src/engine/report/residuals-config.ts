/**
 * The config.json of a residual folder, written so that the Python `residuals` package (PyPI,
 * v0.3.x) loads it with `ResidualsConfig(**json)`: that dataclass refuses unknown keys, so the
 * object has exactly its fields, with its hash formulas.
 */
import { createHash } from 'node:crypto';
import { isDtype, TORCH_DTYPE_NAMES } from '../format/dtype';
import { TOOL_NAME } from '../version';

const RESIDUALS_VERSION = '1.0';

/** What the Python package records when it has no tensors to count dtypes of. */
const DEFAULT_TORCH_DTYPE = 'float32';

export interface ResidualTensorShape {
  name: string;
  /** A safetensors dtype (`BF16`) or already a torch name (`bfloat16`). */
  dtype: string;
  shape: readonly number[];
}

export interface ResidualsConfigInput {
  tensors: readonly ResidualTensorShape[];
  /** Hub id or path of the tokenizer saved beside the residual (the instruct model's); null when unknown. */
  tokenizerName: string | null;
  /** Defaults to now. */
  createdAt?: Date;
  baseModelName?: string;
  instructModelName?: string;
  pipelineTag?: string;
  license?: string;
  language?: string | string[];
  tags?: string[];
  baseModelRelation?: string;
}

/** Exactly the fields of the Python `ResidualsConfig` dataclass, in its order. */
export interface ResidualsConfigJson {
  residuals_version: string;
  format: 'pytorch';
  dtype: string;
  param_count: number;
  shapes_hash: string;
  parameter_names_hash: string;
  tokenizer_name: string | null;
  created_at: string;
  library: { package: string };
  base_model_name?: string;
  instruct_model_name?: string;
  pipeline_tag?: string;
  license?: string;
  language?: string | string[];
  tags?: string[];
  base_model_relation?: string;
}

export function residualsConfig(input: ResidualsConfigInput): ResidualsConfigJson {
  const tensors = sortByName(input.tensors);
  const config: ResidualsConfigJson = {
    residuals_version: RESIDUALS_VERSION,
    format: 'pytorch',
    dtype: mostCommonTorchDtype(tensors),
    param_count: tensors.length,
    shapes_hash: shapesHash(tensors),
    parameter_names_hash: parameterNamesHash(tensors),
    tokenizer_name: input.tokenizerName,
    created_at: pythonUtcIsoformat(input.createdAt ?? new Date()),
    library: { package: TOOL_NAME },
  };
  if (input.baseModelName !== undefined) config.base_model_name = input.baseModelName;
  if (input.instructModelName !== undefined) config.instruct_model_name = input.instructModelName;
  if (input.pipelineTag !== undefined) config.pipeline_tag = input.pipelineTag;
  if (input.license !== undefined) config.license = input.license;
  if (input.language !== undefined) config.language = input.language;
  if (input.tags !== undefined) config.tags = [...input.tags];
  if (input.baseModelRelation !== undefined) config.base_model_relation = input.baseModelRelation;
  return config;
}

/** sha256 of the sorted tensor names joined by `|`. */
export function parameterNamesHash(tensors: readonly ResidualTensorShape[]): string {
  return sha256Hex(sortByName(tensors).map((tensor) => tensor.name).join('|'));
}

/** sha256 of `name:[d0, d1]` entries (Python's list repr) sorted by name and joined by `|`. */
export function shapesHash(tensors: readonly ResidualTensorShape[]): string {
  return sha256Hex(sortByName(tensors).map((tensor) => `${tensor.name}:[${tensor.shape.join(', ')}]`).join('|'));
}

/**
 * The torch name of the most common dtype. Python's `max(set(dtypes), key=dtypes.count)` breaks
 * ties by set order, which is arbitrary; here the tie goes to the dtype of the first tensor by name.
 */
export function mostCommonTorchDtype(tensors: readonly ResidualTensorShape[]): string {
  const counts = new Map<string, number>();
  for (const tensor of sortByName(tensors)) {
    const name = torchDtypeName(tensor.dtype);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  let best = DEFAULT_TORCH_DTYPE;
  let bestCount = 0;
  for (const [name, count] of counts) {
    if (count > bestCount) {
      best = name;
      bestCount = count;
    }
  }
  return best;
}

function torchDtypeName(dtype: string): string {
  if (isDtype(dtype)) return TORCH_DTYPE_NAMES[dtype] ?? dtype.toLowerCase();
  return dtype;
}

/**
 * Python sorts strings by code point; JavaScript's default sort compares UTF-16 units, which
 * differs for characters beyond the Basic Multilingual Plane. UTF-8 byte order is code-point order.
 */
function sortByName<T extends { name: string }>(tensors: readonly T[]): T[] {
  const keyed = tensors.map((tensor) => ({ tensor, key: Buffer.from(tensor.name, 'utf8') }));
  keyed.sort((x, y) => Buffer.compare(x.key, y.key));
  return keyed.map((entry) => entry.tensor);
}

/** `datetime.now(timezone.utc).isoformat()` spelling (`+00:00`, which every Python version parses back). */
function pythonUtcIsoformat(date: Date): string {
  return date.toISOString().replace(/Z$/, '+00:00');
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
