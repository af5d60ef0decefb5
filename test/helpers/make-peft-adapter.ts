/**
 * Builds PEFT LoRA adapters on disk from given factors, in the layout PEFT's `save_pretrained` documents
 * (/work/shared/notes/interop.md, "PEFT LoRA adapters"): adapter_model.safetensors with `{"format": "pt"}` metadata
 * and adapter_config.json. The names are spelled out here, not taken from the engine, so that the tests check the
 * engine against the format rather than against itself.
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCheckpoint, type TensorWithData } from './make-checkpoint';

export interface PeftModule {
  /** The model's module, e.g. `model.layers.0.self_attn.q_proj`. */
  module: string;
  /** `linear` (lora_A.weight [r, in], lora_B.weight [out, r]) or `embedding` (lora_embedding_A [r, num], lora_embedding_B [dim, r]). */
  kind?: 'linear' | 'embedding';
  /** The factors' dtype, shape and data; their names are set here. */
  a: Omit<TensorWithData, 'name'>;
  b: Omit<TensorWithData, 'name'>;
}

export interface PeftAdapterSpec {
  /** Keys over the defaults of a LoraConfig saved for inference (r 8, lora_alpha 8, no patterns). */
  config?: Record<string, unknown>;
  modules: readonly PeftModule[];
  /** Model tensors saved whole (modules_to_save), by the model's tensor name; saved as `base_model.model.<name>`. */
  modelTensors?: readonly TensorWithData[];
  /** Tensors written under exactly the names given (for names PEFT writes that a merge refuses). */
  rawTensors?: readonly TensorWithData[];
}

const PEFT_CONFIG_DEFAULTS: Readonly<Record<string, unknown>> = {
  peft_type: 'LORA',
  task_type: 'CAUSAL_LM',
  base_model_name_or_path: 'test/base-model',
  revision: null,
  inference_mode: true,
  r: 8,
  lora_alpha: 8,
  target_modules: ['q_proj', 'v_proj'],
  lora_dropout: 0,
  fan_in_fan_out: false,
  bias: 'none',
  use_rslora: false,
  use_dora: false,
  modules_to_save: null,
  rank_pattern: {},
  alpha_pattern: {},
};

/** Writes the adapter into `dir` (created) and returns `dir`. */
export async function writePeftAdapter(dir: string, spec: PeftAdapterSpec): Promise<string> {
  const tensors: TensorWithData[] = [
    ...spec.modules.flatMap(({ module, kind, a, b }) => {
      const [aName, bName] = kind === 'embedding'
        ? [`base_model.model.${module}.lora_embedding_A`, `base_model.model.${module}.lora_embedding_B`]
        : [`base_model.model.${module}.lora_A.weight`, `base_model.model.${module}.lora_B.weight`];
      return [{ ...a, name: aName }, { ...b, name: bName }];
    }),
    ...(spec.modelTensors ?? []).map((tensor) => ({ ...tensor, name: `base_model.model.${tensor.name}` })),
    ...spec.rawTensors ?? [],
  ];
  const written = await writeCheckpoint(dir, tensors, { metadata: { format: 'pt' } });
  await rename(join(dir, written.files[0]!), join(dir, 'adapter_model.safetensors'));
  await writeFile(join(dir, 'adapter_config.json'), `${JSON.stringify({ ...PEFT_CONFIG_DEFAULTS, ...spec.config }, null, 2)}\n`);
  return dir;
}
