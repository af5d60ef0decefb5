/**
 * A Llama-2-70B layout (80 layers, hidden 8192, intermediate 28672, 8 KV heads of 128, vocabulary
 * 32000, bf16) as a sharded checkpoint of SPARSE files: the real headers, then `ftruncate` to the
 * full size, so ~138 GB of shards cost no disk. Inspect and the dry run read headers only. The instruct
 * sibling has 16 chat tokens more (as Llama-2-70b-chat's fine-tunes add), so a dry run of compute pairs two
 * different checkpoints (base = instruct is refused).
 */
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  INDEX_FILE_NAME, encodeIndex, planShards, type PlannedTensor,
} from '../src/engine/format/safetensors-writer';
import { DEFAULT_MAX_SHARD_BYTES } from '../src/shared/defaults';

const LAYERS = 80;
const HIDDEN = 8192;
const INTERMEDIATE = 28672;
const KV_WIDTH = 8 * 128;
const VOCABULARY = 32000;
const CHAT_TOKENS = 16;

/** Tensors in the order transformers' LlamaForCausalLM registers them (which decides the sharding). */
function llama70bTensors(vocabulary: number): PlannedTensor[] {
  const tensor = (name: string, shape: number[]): PlannedTensor => ({ name, dtype: 'BF16', shape });
  const tensors = [tensor('model.embed_tokens.weight', [vocabulary, HIDDEN])];
  for (let layer = 0; layer < LAYERS; layer++) {
    const prefix = `model.layers.${layer}`;
    tensors.push(
      tensor(`${prefix}.self_attn.q_proj.weight`, [HIDDEN, HIDDEN]),
      tensor(`${prefix}.self_attn.k_proj.weight`, [KV_WIDTH, HIDDEN]),
      tensor(`${prefix}.self_attn.v_proj.weight`, [KV_WIDTH, HIDDEN]),
      tensor(`${prefix}.self_attn.o_proj.weight`, [HIDDEN, HIDDEN]),
      tensor(`${prefix}.mlp.gate_proj.weight`, [INTERMEDIATE, HIDDEN]),
      tensor(`${prefix}.mlp.up_proj.weight`, [INTERMEDIATE, HIDDEN]),
      tensor(`${prefix}.mlp.down_proj.weight`, [HIDDEN, INTERMEDIATE]),
      tensor(`${prefix}.input_layernorm.weight`, [HIDDEN]),
      tensor(`${prefix}.post_attention_layernorm.weight`, [HIDDEN]),
    );
  }
  tensors.push(tensor('model.norm.weight', [HIDDEN]), tensor('lm_head.weight', [vocabulary, HIDDEN]));
  return tensors;
}

const CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: HIDDEN, intermediate_size: INTERMEDIATE,
  num_hidden_layers: LAYERS, num_attention_heads: 64, num_key_value_heads: 8,
  rms_norm_eps: 1e-5, torch_dtype: 'bfloat16', tie_word_embeddings: false,
};

export interface SparseIndex {
  dir: string;
  shards: number;
  parameters: number;
  bytes: number;
}

/** The index folder under `benchDir`, written once; the index file is written last and marks it complete. */
export function ensureLlama70bIndex(benchDir: string, variant: 'base' | 'instruct' = 'base'): SparseIndex {
  const vocabulary = variant === 'base' ? VOCABULARY : VOCABULARY + CHAT_TOKENS;
  const dir = join(benchDir, variant === 'base' ? 'llama-2-70b-sparse' : 'llama-2-70b-instruct-sparse');
  const tensors = llama70bTensors(vocabulary);
  const plans = planShards(tensors, DEFAULT_MAX_SHARD_BYTES);
  const totalData = plans.reduce((sum, plan) => sum + plan.dataBytes, 0);
  const parameters = tensors.reduce((sum, t) => sum + t.shape.reduce((product, d) => product * d, 1), 0);
  const complete = existsSync(join(dir, INDEX_FILE_NAME))
    && plans.every((plan) => existsSync(join(dir, plan.fileName)) && statSync(join(dir, plan.fileName)).size === plan.header.length + plan.dataBytes);
  if (!complete) {
    mkdirSync(dir, { recursive: true });
    for (const plan of plans) {
      const fd = openSync(join(dir, plan.fileName), 'w');
      try {
        writeSync(fd, plan.header);
        ftruncateSync(fd, plan.header.length + plan.dataBytes);
      } finally {
        closeSync(fd);
      }
    }
    writeFileSync(join(dir, 'config.json'), `${JSON.stringify({ ...CONFIG, vocab_size: vocabulary }, null, 2)}\n`);
    writeFileSync(join(dir, INDEX_FILE_NAME), encodeIndex(plans, totalData));
  }
  return { dir, shards: plans.length, parameters, bytes: totalData };
}
