/**
 * Recognises quantized checkpoints from config.json and from tensor names and dtypes alone, before
 * any tensor data is read. Their weights are packed integers or low-precision floats beside scales,
 * so element-wise arithmetic on the stored bytes means nothing.
 */
import { join } from 'node:path';
import type { Dtype } from '../format/dtype';
import type { Checkpoint, TensorRef } from './checkpoint-types';
import { CONFIG_FILE_NAME } from './side-files';

/** How the quantized tensors are laid out, as far as their names and dtypes tell. */
export type QuantizedLayout =
  | 'bitsandbytes' | 'gptq-awq' | 'exl2' | 'compressed-tensors' | 'mxfp4'
  /** Low-precision float weights with `weight_scale_inv` blocks (DeepSeek-V3, Kimi-K2, Qwen3 FP8). */
  | 'fp8-block-scaled'
  /** Low-precision float weights with a per-tensor or per-channel `weight_scale` (compressed-tensors, fbgemm_fp8). */
  | 'fp8-scaled'
  /** Low-precision float tensors without scales beside them. */
  | 'low-precision-float';

export interface QuantizationDescription {
  /** config.json's quant_method as transformers spells it (`gptq`, `fp8`, ...), else the method the tensors point to. */
  method: string;
  /** What gave it away, for messages: `config.json quantization_config.quant_method "gptq"` or a tensor and its role. */
  evidence: string;
  /** The file the evidence is in. */
  file: string;
  /** The layout the tensors are in, when any tensor is in a quantized layout. */
  layout?: QuantizedLayout;
  /** Every tensor in a quantized layout (packed weights, scales, zero points, quantization state), in checkpoint order. */
  tensors: string[];
  /** config.json's quantization_config, as written (block sizes, bits, formats). */
  config?: Record<string, unknown>;
}

interface TensorMatch {
  layout: QuantizedLayout;
  method: string;
  /** The tensor's role in the layout, shown after its name. */
  role: string;
  /** The quantized weights themselves, rather than their scales, zero points or state: the evidence named first. */
  weights?: true;
}

/** transformers' key, and the key of configs written by older compressed-tensors releases. */
const CONFIG_KEYS = ['quantization_config', 'compression_config'] as const;

const BITSANDBYTES_STATE_SUFFIXES = [
  '.absmax', '.quant_map', '.nested_absmax', '.nested_quant_map',
  '.quant_state.bitsandbytes__nf4', '.quant_state.bitsandbytes__fp4', '.weight_format',
];
const EXL2_SUFFIXES = ['.q_weight', '.q_scale', '.q_scale_max', '.q_groups', '.q_perm', '.q_invperm'];

/** The quantization of a checkpoint, from its config or, without one, its tensors; undefined for a plain checkpoint. */
export function detectQuantization(checkpoint: Checkpoint): QuantizationDescription | undefined {
  const fromTensors = detectFromTensors(checkpoint);
  const fromConfig = detectFromConfig(checkpoint);
  if (fromConfig) {
    return {
      ...fromConfig,
      tensors: fromTensors?.tensors ?? [],
      ...(fromTensors?.layout ? { layout: fromTensors.layout } : {}),
    };
  }
  return fromTensors;
}

function detectFromConfig(checkpoint: Checkpoint): Omit<QuantizationDescription, 'tensors'> | undefined {
  for (const key of CONFIG_KEYS) {
    const section = checkpoint.config?.[key];
    if (section === undefined || section === null) continue;
    const file = join(checkpoint.root, CONFIG_FILE_NAME);
    if (!isPlainObject(section)) {
      return { method: 'unknown', evidence: `${CONFIG_FILE_NAME} has a ${key}`, file };
    }
    const quantMethod = section['quant_method'];
    if (typeof quantMethod === 'string' && quantMethod !== '') {
      return { method: quantMethod, evidence: `${CONFIG_FILE_NAME} ${key}.quant_method ${JSON.stringify(quantMethod)}`, file, config: section };
    }
    // bitsandbytes configs written before quant_method existed say only load_in_4bit or load_in_8bit.
    const bitsandbytesFlag = ['load_in_4bit', 'load_in_8bit'].find((flag) => section[flag] === true);
    if (bitsandbytesFlag) {
      return { method: 'bitsandbytes', evidence: `${CONFIG_FILE_NAME} ${key}.${bitsandbytesFlag} true`, file, config: section };
    }
    return { method: 'unknown', evidence: `${CONFIG_FILE_NAME} has a ${key} without a quant_method`, file, config: section };
  }
  return undefined;
}

function detectFromTensors(checkpoint: Checkpoint): QuantizationDescription | undefined {
  let named: { ref: TensorRef; match: TensorMatch } | undefined;
  const tensors: string[] = [];
  const hasGroupIndex = [...checkpoint.tensors.keys()].some((name) => name.endsWith('.g_idx'));
  for (const ref of checkpoint.tensors.values()) {
    const match = matchTensor(ref, checkpoint.tensors, hasGroupIndex);
    if (!match) continue;
    if (!named || (match.weights && !named.match.weights)) named = { ref, match };
    tensors.push(ref.name);
  }
  if (!named) return undefined;
  const { ref, match } = named;
  const others = tensors.length - 1;
  return {
    method: match.method,
    evidence: `tensor ${JSON.stringify(ref.name)} (${match.role})${others > 0 ? ` and ${others} more quantized tensor${others === 1 ? '' : 's'}` : ''}`,
    file: ref.file.path,
    layout: match.layout,
    tensors,
  };
}

function matchTensor(ref: TensorRef, all: ReadonlyMap<string, TensorRef>, hasGroupIndex: boolean): TensorMatch | undefined {
  const { name, dtype } = ref;
  const sibling = (suffix: string): TensorRef | undefined => all.get(`${stem(name)}${suffix}`);

  if (isLowPrecisionFloat(dtype)) {
    if (sibling('.weight_scale_inv')) return { layout: 'fp8-block-scaled', method: 'fp8', role: `${dtype} weights with block scales in weight_scale_inv`, weights: true };
    if (sibling('.weight_scale')) return { layout: 'fp8-scaled', method: 'fp8', role: `${dtype} weights with scales in weight_scale`, weights: true };
    return { layout: 'low-precision-float', method: lowPrecisionMethod(dtype), role: `${dtype} values, which are not read as numbers`, weights: true };
  }
  if (name.endsWith('.weight_scale_inv')) return { layout: 'fp8-block-scaled', method: 'fp8', role: 'block scales of FP8 weights' };

  if (BITSANDBYTES_STATE_SUFFIXES.some((suffix) => name.endsWith(suffix))) {
    return { layout: 'bitsandbytes', method: 'bitsandbytes', role: 'bitsandbytes quantization state' };
  }
  if (name.endsWith('.SCB')) return { layout: 'bitsandbytes', method: 'bitsandbytes', role: 'bitsandbytes 8-bit scales' };
  if (name.endsWith('.weight') && dtype === 'U8' && ((ref.shape.length === 2 && ref.shape[1] === 1) || all.has(`${name}.absmax`))) {
    return { layout: 'bitsandbytes', method: 'bitsandbytes', role: 'bitsandbytes 4-bit packed weights', weights: true };
  }
  if (name.endsWith('.weight') && dtype === 'I8' && sibling('.SCB')) {
    return { layout: 'bitsandbytes', method: 'bitsandbytes', role: 'bitsandbytes 8-bit weights', weights: true };
  }
  if (name.endsWith('.weight') && isInteger(dtype) && sibling('.weight_scale')) {
    return { layout: 'compressed-tensors', method: 'compressed-tensors', role: `${dtype} quantized weights`, weights: true };
  }

  const gptqMethod = hasGroupIndex ? 'gptq' : 'awq';
  if (name.endsWith('.qweight')) return { layout: 'gptq-awq', method: gptqMethod, role: 'GPTQ/AWQ packed weights', weights: true };
  if (name.endsWith('.qzeros')) return { layout: 'gptq-awq', method: gptqMethod, role: 'GPTQ/AWQ packed zero points' };
  if (name.endsWith('.g_idx') && !name.endsWith('.weight_g_idx')) return { layout: 'gptq-awq', method: 'gptq', role: 'GPTQ group indices' };
  if (name.endsWith('.scales') && sibling('.qweight')) return { layout: 'gptq-awq', method: gptqMethod, role: 'GPTQ/AWQ scales' };

  if (EXL2_SUFFIXES.some((suffix) => name.endsWith(suffix))) return { layout: 'exl2', method: 'exl2', role: 'EXL2 quantized weights' };

  if (name.endsWith('.weight_packed')) return { layout: 'compressed-tensors', method: 'compressed-tensors', role: 'compressed-tensors packed weights', weights: true };
  if (name.endsWith('.weight_zero_point') || name.endsWith('.weight_g_idx') || name.endsWith('.weight_shape')) {
    return { layout: 'compressed-tensors', method: 'compressed-tensors', role: 'compressed-tensors quantization parameters' };
  }
  if (name.endsWith('.weight_scale')) {
    const weight = sibling('.weight');
    return weight && isLowPrecisionFloat(weight.dtype)
      ? { layout: 'fp8-scaled', method: 'fp8', role: 'scales of FP8 weights' }
      : { layout: 'compressed-tensors', method: 'compressed-tensors', role: 'compressed-tensors weight scales' };
  }

  // gpt-oss keeps each MXFP4 weight as `<name>_blocks` (packed nibbles) beside `<name>_scales`.
  if (dtype === 'U8' && name.endsWith('_blocks') && all.has(`${name.slice(0, -'_blocks'.length)}_scales`)) {
    return { layout: 'mxfp4', method: 'mxfp4', role: 'MXFP4 packed blocks', weights: true };
  }
  return undefined;
}

/** The module path of a parameter: `a.b.weight_scale` gives `a.b`. */
function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

/** Floats narrower than 16 bits: the kernels only do arithmetic on F16, BF16, F32 and F64. */
function isLowPrecisionFloat(dtype: Dtype): boolean {
  return dtype.startsWith('F8_') || dtype.startsWith('F6_') || dtype === 'F4';
}

function isInteger(dtype: Dtype): boolean {
  return dtype === 'I8' || dtype === 'U8' || dtype === 'I16' || dtype === 'U16' || dtype === 'I32' || dtype === 'U32';
}

function lowPrecisionMethod(dtype: Dtype): string {
  return dtype.startsWith('F8_') ? 'fp8' : dtype.startsWith('F6_') ? 'fp6' : 'fp4';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
