/**
 * Tiny checkpoints in the layouts quantizers write (tensor names, dtypes and shapes as bitsandbytes,
 * AutoGPTQ, AutoAWQ, llm-compressor and the FP8 releases save them), for the refusal tests. The
 * data is zeros: only headers and config.json are ever looked at.
 */
import type { Dtype } from '../../src/engine/format/dtype';
import { tensorByteLength } from '../../src/engine/format/safetensors-writer';
import { llamaLikeTensors, type TensorWithData } from './make-checkpoint';

export interface QuantizedLayoutCase {
  /** What the case is called in test names. */
  label: string;
  /** The method a refusal must name: config.json's quant_method, or what the tensors alone point to. */
  method: string;
  /** Tensors that stand in for `model.layers.0.self_attn.q_proj.weight`. */
  projection: TensorWithData[];
  quantizationConfig: Record<string, unknown>;
}

const PROJECTION = 'model.layers.0.self_attn.q_proj';
export const HIDDEN = 8;
const VOCAB = 12;

export function zeroTensor(name: string, dtype: Dtype, shape: number[]): TensorWithData {
  return { name, dtype, shape, data: new Uint8Array(tensorByteLength({ name, dtype, shape })) };
}

const at = (suffix: string, dtype: Dtype, shape: number[]): TensorWithData => zeroTensor(`${PROJECTION}.${suffix}`, dtype, shape);

export const QUANTIZED_LAYOUTS: readonly QuantizedLayoutCase[] = [
  {
    label: 'bitsandbytes 4-bit',
    method: 'bitsandbytes',
    projection: [
      at('weight', 'U8', [HIDDEN * HIDDEN / 2, 1]), at('weight.absmax', 'F32', [1]), at('weight.quant_map', 'F32', [16]),
      at('weight.quant_state.bitsandbytes__nf4', 'U8', [32]),
    ],
    quantizationConfig: { quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4' },
  },
  {
    label: 'bitsandbytes 8-bit',
    method: 'bitsandbytes',
    projection: [at('weight', 'I8', [HIDDEN, HIDDEN]), at('SCB', 'F32', [HIDDEN]), at('weight_format', 'U8', [1])],
    quantizationConfig: { quant_method: 'bitsandbytes', load_in_8bit: true },
  },
  {
    label: 'GPTQ',
    method: 'gptq',
    projection: [at('qweight', 'I32', [1, HIDDEN]), at('qzeros', 'I32', [1, 1]), at('scales', 'F16', [1, HIDDEN]), at('g_idx', 'I32', [HIDDEN])],
    quantizationConfig: { quant_method: 'gptq', bits: 4, group_size: 128, desc_act: false },
  },
  {
    label: 'AWQ',
    method: 'awq',
    projection: [at('qweight', 'I32', [HIDDEN, 1]), at('qzeros', 'I32', [1, 1]), at('scales', 'F16', [1, HIDDEN])],
    quantizationConfig: { quant_method: 'awq', bits: 4, group_size: 128, version: 'gemm' },
  },
  {
    label: 'compressed-tensors',
    method: 'compressed-tensors',
    projection: [
      at('weight_packed', 'I32', [HIDDEN, 1]), at('weight_scale', 'BF16', [HIDDEN, 1]), at('weight_zero_point', 'I32', [HIDDEN, 1]),
      at('weight_shape', 'I64', [2]),
    ],
    quantizationConfig: { quant_method: 'compressed-tensors', format: 'pack-quantized' },
  },
  {
    label: 'FP8 block-quantized',
    method: 'fp8',
    projection: [at('weight', 'F8_E4M3', [HIDDEN, HIDDEN]), at('weight_scale_inv', 'F32', [1, 1])],
    quantizationConfig: { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128] },
  },
  {
    label: 'FP8 per-row scales (fbgemm_fp8)',
    method: 'fbgemm_fp8',
    projection: [at('weight', 'F8_E4M3', [HIDDEN, HIDDEN]), at('weight_scale', 'F32', [HIDDEN, 1])],
    quantizationConfig: { quant_method: 'fbgemm_fp8', activation_scale_ub: 1200 },
  },
];

/** The method the tensors alone point to, where config.json's name for it differs. */
export function methodFromTensors(layout: QuantizedLayoutCase): string {
  return layout.method === 'fbgemm_fp8' ? 'fp8' : layout.method;
}

/** A tiny Llama whose first query projection is in the layout; tied embeddings, one layer. */
export function quantizedTensors(layout: QuantizedLayoutCase, seed = 7): TensorWithData[] {
  const plain = llamaLikeTensors({ layers: 1, hidden: HIDDEN, vocab: VOCAB, dtype: 'BF16', tied: true, seed });
  const index = plain.findIndex((tensor) => tensor.name === `${PROJECTION}.weight`);
  return [...plain.slice(0, index), ...layout.projection, ...plain.slice(index + 1)];
}

export function plainConfig(vocab = VOCAB): Record<string, unknown> {
  return { model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: HIDDEN, num_hidden_layers: 1, vocab_size: vocab, tie_word_embeddings: true };
}
