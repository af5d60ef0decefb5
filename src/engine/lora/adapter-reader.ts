/**
 * Reads a PEFT LoRA adapter (adapter_config.json beside adapter_model.safetensors) for `apply --residual`: the config
 * parsed strictly, the tensors sorted into each module's factors and the model tensors PEFT loads in place of the
 * model's (modules_to_save). What a merge cannot reproduce faithfully is refused as plan issues, each with its rule,
 * file and tensor, so that the dry run lists them all before anything is read or written.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint, TensorRef } from '../checkpoint/checkpoint-types';
import { SurgeonError } from '../errors';
import { parseStrictJson } from '../format/strict-json';
import type { FileProvenance, PlanIssue } from '../../shared/jobs';
import type { FactorDtype } from './factor-encoding';
import {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterTensorRole, loraTensorNames, moduleScaling, patternValue, PEFT_PREFIX, weightOfModule,
  type AdapterConfig, type LoraModuleKind,
} from './peft-adapter';

/** LoraConfig's defaults in PEFT, for the keys a config may leave out (only peft_type is required). */
const PEFT_DEFAULT_RANK = 8;
const PEFT_DEFAULT_ALPHA = 8;

/** Factors are widened exactly to binary32 for the merge; these are the dtypes for which that holds. */
const FACTOR_DTYPES: ReadonlySet<string> = new Set<FactorDtype>(['BF16', 'F16', 'F32']);

/** Parts of a tensor name that belong to PEFT constructs other than plain LoRA factors and saved modules. */
const FOREIGN_PEFT_PARTS: ReadonlySet<string> = new Set(['modules_to_save', 'original_module', 'base_layer', 'token_adapter', 'trainable_tokens_delta']);

/** One module's LoRA: ΔW = scaling · (B @ A), transposed for an embedding. */
export interface LoraModule {
  /** The model's module, e.g. `model.layers.0.self_attn.q_proj`; it changes `<module>.weight`. */
  module: string;
  kind: LoraModuleKind;
  /** lora_A.weight [r, in] (linear) or lora_embedding_A [r, num_embeddings]. */
  a: TensorRef;
  /** lora_B.weight [out, r] (linear) or lora_embedding_B [dim, r]. */
  b: TensorRef;
  rank: number;
  alpha: number;
  /** alpha / r, or alpha / √r with rsLoRA (binary64; the merge rounds it to binary32). */
  scaling: number;
}

/** A tensor of the model saved whole in the adapter (modules_to_save): PEFT loads it in place of the model's. */
export interface AdapterModelTensor {
  /** The model's tensor it replaces. */
  tensor: string;
  ref: TensorRef;
  /** Whether adapter_config.json's modules_to_save names its module (PEFT also saves resized embeddings so). */
  listed: boolean;
}

export interface LoraAdapter {
  config: AdapterConfig;
  /** adapter_config.json as read, for provenance.json: the scalings come from it. */
  configFile: FileProvenance;
  modules: LoraModule[];
  modelTensors: AdapterModelTensor[];
}

/**
 * Whether a checkpoint opened as the residual is a PEFT adapter: its weights are adapter_model.safetensors (whose
 * adapter_config.json beside it `readLoraAdapter` requires).
 */
export function isLoraAdapter(checkpoint: Checkpoint): boolean {
  return checkpoint.files.length === 1 && checkpoint.files[0]!.name === ADAPTER_WEIGHTS_FILE;
}

/**
 * The adapter `checkpoint` holds (an adapter by `isLoraAdapter`), with every problem found in its config and tensor
 * names, shapes and dtypes. Reads adapter_config.json and the headers only.
 */
export async function readLoraAdapter(checkpoint: Checkpoint): Promise<{ adapter: LoraAdapter; issues: PlanIssue[] }> {
  const configPath = join(checkpoint.root, ADAPTER_CONFIG_FILE);
  const bytes = await readFile(configPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new SurgeonError('io', `cannot read the adapter's config: ${error.message}`, configPath);
  });
  const issues: PlanIssue[] = [];
  const empty = (configFile: FileProvenance, config?: AdapterConfig): LoraAdapter => ({
    config: config ?? { peft_type: 'LORA', r: PEFT_DEFAULT_RANK, lora_alpha: PEFT_DEFAULT_ALPHA }, configFile, modules: [], modelTensors: [],
  });
  if (bytes === undefined) {
    issues.push({ severity: 'error', rule: 'adapter-config', file: configPath,
      message: `${ADAPTER_WEIGHTS_FILE} has no ${ADAPTER_CONFIG_FILE} beside it: the adapter's ranks and scalings are unknown` });
    return { adapter: empty({ file: ADAPTER_CONFIG_FILE, bytes: 0, sha256: '' }), issues };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SurgeonError('invalid-json', 'adapter_config.json is not valid UTF-8', configPath);
  }
  const config = adapterConfigOf(parseStrictJson(text, configPath), configPath, issues);
  const adapter = empty({ file: ADAPTER_CONFIG_FILE, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') }, config);
  // Another PEFT method's tensors are not LoRA factors: naming each of them would only repeat the one refusal.
  if (config === undefined) return { adapter, issues };
  const weightsPath = checkpoint.files[0]!.path;
  const issue = (rule: string, tensor: string, message: string): void => {
    issues.push({ severity: 'error', rule, file: weightsPath, tensor, message: `${JSON.stringify(tensor)}: ${message}` });
  };

  const factors = new Map<string, { module: string; kind: LoraModuleKind; a?: TensorRef; b?: TensorRef }>();
  for (const ref of checkpoint.tensors.values()) {
    const role = adapterTensorRole(ref.name);
    if (role === undefined) {
      issue('lora-tensor-name', ref.name, `not a tensor of a PEFT adapter, whose names start with ${PEFT_PREFIX} `
        + '(<module>.lora_A.weight, <module>.lora_B.weight, <module>.lora_embedding_A or _B, or a saved module\'s tensor)');
    } else if (role.role === 'factor') {
      const key = `${role.kind} ${role.module}`;
      const entry = factors.get(key) ?? { module: role.module, kind: role.kind };
      entry[role.factor] = ref;
      factors.set(key, entry);
    } else {
      const refusal = unsupportedModelTensor(role.tensor);
      if (refusal) issue(refusal.rule, ref.name, refusal.message);
      else adapter.modelTensors.push({ tensor: role.tensor, ref, listed: inModulesToSave(config, role.tensor) });
    }
  }

  for (const { module, kind, a, b } of factors.values()) {
    const names = loraTensorNames(module, kind);
    if (!a || !b) {
      const [present, missing] = a ? [a.name, names.b] : [b!.name, names.a];
      issue('lora-missing-factor', present, `module ${JSON.stringify(module)} has this factor but not ${JSON.stringify(missing)}: ΔW = B @ A needs both`);
      continue;
    }
    const problems = [a, b].flatMap((ref) => factorProblems(ref));
    for (const { tensor, rule, message } of problems) issue(rule, tensor, message);
    if (problems.length > 0) continue;
    const [rankOfA, rankOfB] = [a.shape[0]!, b.shape[1]!];
    const { rank, alpha, scaling } = moduleScaling(config, module);
    if (rankOfA !== rankOfB) {
      issue('lora-rank', b.name, `its rank (${rankOfB} columns) differs from ${JSON.stringify(a.name)}'s (${rankOfA} rows): B @ A is undefined`);
    } else if (rankOfA !== rank) {
      const source = patternValue(config.rank_pattern, module) === undefined ? 'r' : 'rank_pattern';
      issue('lora-rank', a.name, `the factors have rank ${rankOfA} but adapter_config.json gives module ${JSON.stringify(module)} `
        + `rank ${rank} (${source}); PEFT would refuse to load them, and the scaling alpha / r would be wrong`);
    } else {
      adapter.modules.push({ module, kind, a, b, rank, alpha, scaling });
    }
  }

  const saved = new Map(adapter.modelTensors.map((tensor) => [tensor.tensor, tensor]));
  for (const { module, a } of adapter.modules) {
    const full = saved.get(weightOfModule(module));
    if (full) issue('lora-conflict', full.ref.name, `the adapter holds both this tensor and a LoRA of its module (${JSON.stringify(a.name)}): which one wins is not defined`);
  }
  if (checkpoint.tensors.size === 0) {
    issues.push({ severity: 'error', rule: 'lora-empty', file: weightsPath, message: 'the adapter holds no tensors: there is nothing to merge' });
  }
  return { adapter, issues };
}

/** adapter_config.json as an AdapterConfig, or undefined when it is not one of a LoRA adapter; its problems go to `issues`. */
function adapterConfigOf(value: unknown, file: string, issues: PlanIssue[]): AdapterConfig | undefined {
  const refuse = (rule: string, message: string): undefined => {
    issues.push({ severity: 'error', rule, file, message: `adapter_config.json: ${message}` });
    return undefined;
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return refuse('adapter-config', 'not a JSON object');
  const json = value as Record<string, unknown>;
  if (json['peft_type'] !== 'LORA') {
    return refuse('peft-type', `peft_type is ${JSON.stringify(json['peft_type'] ?? null)}: only LoRA adapters ("LORA") are merged`);
  }
  const invalid = (key: string, expected: string): void => {
    refuse('adapter-config', `${key} is ${JSON.stringify(json[key])}, not ${expected}`);
  };
  const flag = (key: string): boolean => {
    const entry = json[key];
    if (entry === undefined || entry === null) return false;
    if (typeof entry !== 'boolean') invalid(key, 'true or false');
    return entry === true;
  };
  const number = (key: string, fallback: number, test: (entry: number) => boolean, expected: string): number => {
    const entry = json[key] ?? fallback;
    if (typeof entry === 'number' && test(entry)) return entry;
    invalid(key, expected);
    return fallback;
  };
  const pattern = (key: string, test: (entry: number) => boolean, expected: string): Record<string, number> => {
    const entry = json[key] ?? {};
    if (typeof entry !== 'object' || Array.isArray(entry) || Object.values(entry).some((item) => typeof item !== 'number' || !test(item))) {
      invalid(key, `an object of module patterns to ${expected}`);
      return {};
    }
    return entry as Record<string, number>;
  };
  const isRank = (entry: number): boolean => Number.isInteger(entry) && entry > 0;
  const config: AdapterConfig = {
    peft_type: 'LORA',
    r: number('r', PEFT_DEFAULT_RANK, isRank, 'a whole number above 0'),
    lora_alpha: number('lora_alpha', PEFT_DEFAULT_ALPHA, Number.isFinite, 'a finite number'),
    use_rslora: flag('use_rslora'),
    rank_pattern: pattern('rank_pattern', isRank, 'whole numbers above 0'),
    alpha_pattern: pattern('alpha_pattern', Number.isFinite, 'finite numbers'),
    modules_to_save: stringList(json['modules_to_save']) ?? null,
  };
  if (json['modules_to_save'] !== undefined && json['modules_to_save'] !== null && stringList(json['modules_to_save']) === undefined) {
    invalid('modules_to_save', 'a list of module names or null');
  }
  if (typeof json['base_model_name_or_path'] === 'string') config.base_model_name_or_path = json['base_model_name_or_path'];
  if (flag('use_dora')) {
    refuse('lora-dora', 'use_dora is true: DoRA rescales every column of W + scaling · B @ A by a learned magnitude vector, '
      + 'which a LoRA merge would leave out; DoRA adapters are not merged');
  }
  if (flag('fan_in_fan_out')) {
    refuse('lora-fan-in-fan-out', 'fan_in_fan_out is true: the factors belong to Conv1D layers (GPT-2) whose weights are '
      + 'stored [in, out], transposed against what the factors multiply to; such adapters are not merged');
  }
  if (flag('lora_bias')) {
    refuse('lora-bias', 'lora_bias is true: lora_B carries a bias that PEFT adds to the layer\'s bias; such adapters are not merged');
  }
  const parameters = json['target_parameters'];
  if (Array.isArray(parameters) && parameters.length > 0) {
    refuse('adapter-config', 'target_parameters names parameters (LoRA on nn.Parameter, such as fused experts), whose factors '
      + 'are laid out per parameter, not per module; such adapters are not merged');
  }
  return config;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value as string[] : undefined;
}

/** A model tensor name that is really a PEFT construct this merge does not reproduce: its rule and why. */
function unsupportedModelTensor(tensor: string): { rule: string; message: string } | undefined {
  const parts = tensor.split('.');
  if (parts.at(-2) === 'lora_B' && parts.at(-1) === 'bias') {
    return { rule: 'lora-bias', message: 'a LoRA bias (lora_bias), which PEFT adds to the layer\'s bias; such adapters are not merged' };
  }
  if (parts.some((part) => part.startsWith('lora_magnitude_vector'))) {
    return { rule: 'lora-dora', message: 'a DoRA magnitude vector, which rescales the merged weight\'s columns; DoRA adapters are not merged' };
  }
  if (parts.some((part) => part.startsWith('lora_') || FOREIGN_PEFT_PARTS.has(part))) {
    return { rule: 'lora-tensor-name', message: 'a PEFT tensor that is neither a LoRA factor (lora_A.weight, lora_B.weight, '
      + 'lora_embedding_A, lora_embedding_B) nor a saved tensor of the model; it is not merged' };
  }
  return undefined;
}

/** Whether modules_to_save names the module owning `tensor` as PEFT matches it: the whole name or its last components. */
function inModulesToSave(config: AdapterConfig, tensor: string): boolean {
  const module = tensor.slice(0, tensor.lastIndexOf('.'));
  return (config.modules_to_save ?? []).some((key) => module === key || module.endsWith(`.${key}`));
}

function factorProblems(ref: TensorRef): Array<{ tensor: string; rule: string; message: string }> {
  const problems: Array<{ tensor: string; rule: string; message: string }> = [];
  if (!FACTOR_DTYPES.has(ref.dtype)) {
    problems.push({ tensor: ref.name, rule: 'lora-factor-dtype', message: `a ${ref.dtype} factor: factors are merged in binary32, from BF16, F16 or F32` });
  }
  if (ref.shape.length !== 2) {
    problems.push({ tensor: ref.name, rule: 'lora-factor-shape', message: `a factor of shape [${ref.shape.join(', ')}]: LoRA factors are matrices (convolution LoRAs are not merged)` });
  }
  return problems;
}
