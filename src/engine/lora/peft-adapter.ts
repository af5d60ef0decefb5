/**
 * PEFT's LoRA adapter layout (huggingface/peft, `save_pretrained` of a LoraModel): what `lora` writes and
 * `apply --residual <adapter>` reads. The names and keys are PEFT's, so that PEFT, vLLM and llama.cpp load it.
 */

export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';

/** Every saved tensor name starts so: the LoraModel's `base_model` wrapping the transformers model. */
export const PEFT_PREFIX = 'base_model.model.';

/**
 * A linear module's factors are `lora_A.weight` [r, in] and `lora_B.weight` [out, r], with ΔW = scaling · (B @ A);
 * an embedding's are `lora_embedding_A` [r, num_embeddings] and `lora_embedding_B` [dim, r], with ΔW = scaling · (B @ A)ᵀ.
 */
export type LoraModuleKind = 'linear' | 'embedding';

export interface LoraTensorNames {
  a: string;
  b: string;
}

export function loraTensorNames(module: string, kind: LoraModuleKind): LoraTensorNames {
  const prefix = `${PEFT_PREFIX}${module}.`;
  return kind === 'linear'
    ? { a: `${prefix}lora_A.weight`, b: `${prefix}lora_B.weight` }
    : { a: `${prefix}lora_embedding_A`, b: `${prefix}lora_embedding_B` };
}

/** The module that owns a weight: `model.layers.0.mlp.up_proj` for `model.layers.0.mlp.up_proj.weight`. */
export function moduleOfWeight(tensor: string): string | undefined {
  return tensor.endsWith('.weight') ? tensor.slice(0, -'.weight'.length) : undefined;
}

/** The weight a module's LoRA changes: `model.layers.0.mlp.up_proj.weight` for `model.layers.0.mlp.up_proj`. */
export function weightOfModule(module: string): string {
  return `${module}.weight`;
}

/**
 * What a tensor of adapter_model.safetensors is by PEFT's names: a factor of a module's LoRA, or (any other name
 * under `base_model.model.`) a tensor of the model itself, which PEFT loads in place of the model's (modules_to_save);
 * undefined for a name outside `base_model.model.`.
 */
export type AdapterTensorRole =
  | { role: 'factor'; module: string; kind: LoraModuleKind; factor: keyof LoraTensorNames }
  | { role: 'model-tensor'; tensor: string };

export function adapterTensorRole(name: string): AdapterTensorRole | undefined {
  if (!name.startsWith(PEFT_PREFIX)) return undefined;
  for (const kind of ['linear', 'embedding'] as const) {
    for (const factor of ['a', 'b'] as const) {
      const suffix = loraTensorNames('', kind)[factor].slice(PEFT_PREFIX.length);
      if (name.endsWith(suffix) && name.length > PEFT_PREFIX.length + suffix.length) {
        return { role: 'factor', module: name.slice(PEFT_PREFIX.length, -suffix.length), kind, factor };
      }
    }
  }
  return { role: 'model-tensor', tensor: name.slice(PEFT_PREFIX.length) };
}

/** The keys of adapter_config.json this tool writes and reads; PEFT drops unknown keys with a warning. */
export interface AdapterConfig {
  peft_type: 'LORA';
  task_type?: string;
  base_model_name_or_path?: string | null;
  revision?: string | null;
  inference_mode?: boolean;
  r: number;
  lora_alpha: number;
  target_modules?: string[] | string | null;
  lora_dropout?: number;
  fan_in_fan_out?: boolean;
  bias?: string;
  use_rslora?: boolean;
  use_dora?: boolean;
  modules_to_save?: string[] | null;
  rank_pattern?: Record<string, number>;
  alpha_pattern?: Record<string, number>;
  lora_bias?: boolean;
}

export interface WrittenModule {
  module: string;
  rank: number;
}

/**
 * The config of an adapter whose every module has scaling 1: r is the most common rank (the largest of
 * equally common ones) and lora_alpha = r; a module of another rank gets rank_pattern and alpha_pattern
 * entries equal to its rank. target_modules lists the modules' last components, as PEFT users write them.
 */
export function adapterConfig(modules: readonly WrittenModule[], baseModel: string, revision: string | null): AdapterConfig {
  const counts = new Map<number, number>();
  for (const { rank } of modules) counts.set(rank, (counts.get(rank) ?? 0) + 1);
  const r = [...counts.entries()].sort((x, y) => y[1] - x[1] || y[0] - x[0])[0]?.[0] ?? 0;
  const patterns = Object.fromEntries(modules.filter((module) => module.rank !== r).map((module) => [module.module, module.rank]));
  const targets = [...new Set(modules.map((module) => module.module.split('.').at(-1)!))].sort();
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    revision,
    inference_mode: true,
    r,
    lora_alpha: r,
    target_modules: targets,
    lora_dropout: 0,
    fan_in_fan_out: false,
    bias: 'none',
    use_rslora: false,
    modules_to_save: null,
    rank_pattern: patterns,
    alpha_pattern: { ...patterns },
  };
}

/**
 * The value of a per-module pattern for `module`, as PEFT resolves rank_pattern and alpha_pattern: a key
 * matches when the module name ends with it at a dot boundary, the key read as a regular expression
 * (`re.match(rf"(.*\.)?({key})$", module)`); the first matching key wins.
 */
export function patternValue(pattern: Readonly<Record<string, number>> | undefined, module: string): number | undefined {
  if (!pattern) return undefined;
  for (const [key, value] of Object.entries(pattern)) {
    let matcher: RegExp;
    try {
      matcher = new RegExp(`^(.*\\.)?(${key})$`);
    } catch {
      if (module === key || module.endsWith(`.${key}`)) return value;
      continue;
    }
    if (matcher.test(module)) return value;
  }
  return undefined;
}

/** ΔW's factor for a module: lora_alpha / r, or lora_alpha / √r with rsLoRA, each from the patterns where they name the module. */
export function moduleScaling(config: AdapterConfig, module: string): { rank: number; alpha: number; scaling: number } {
  const rank = patternValue(config.rank_pattern, module) ?? config.r;
  const alpha = patternValue(config.alpha_pattern, module) ?? config.lora_alpha;
  return { rank, alpha, scaling: config.use_rslora ? alpha / Math.sqrt(rank) : alpha / rank };
}
