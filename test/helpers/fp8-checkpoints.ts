/**
 * Small checkpoints in the DeepSeek-V3 FP8 layout (docs/fp8.md): linear weights F8_E4M3 with F32 `weight_scale_inv`
 * blocks, quantized from given f32 values by the project's quantizer (the plain-JS kernel, which gives the same bits
 * as the WebAssembly one), beside BF16 embeddings, norms, router and head. Weight shapes are not multiples of 128, so
 * the last block of a row or column is partial.
 */
import { blockQuantizationConfig, blockScaleName, blockScaleShape, DEFAULT_FP8_BLOCK } from '../../src/engine/checkpoint/fp8-scales';
import { quantizeE4m3BlocksBytes } from '../../src/engine/kernels/js-fp8';
import { makeTensor, mulberry32, writeCheckpoint, type TensorWithData, type WriteCheckpointOptions, type WrittenCheckpoint } from './make-checkpoint';

export interface Fp8WeightSpec {
  name: string;
  rows: number;
  columns: number;
  /** Row-major f32 values; seeded random ones when left out. */
  values?: Float32Array;
}

/** One weight as written: its f32 source values, E4M3 bytes and block scales. */
export interface QuantizedWeight {
  name: string;
  rows: number;
  columns: number;
  values: Float32Array;
  bytes: Uint8Array;
  /** Row-major [ceil(rows / blockRows), ceil(columns / blockColumns)]. */
  scales: Float32Array;
}

export interface Fp8CheckpointOptions {
  weights?: readonly Fp8WeightSpec[];
  /** BF16 (or other) tensors written beside the weights; DeepSeek-like embeddings, norms, router and head by default. */
  plain?: readonly TensorWithData[];
  block?: readonly [number, number];
  /** Merged into config.json (`quantization_config: undefined` leaves the section out). */
  config?: Record<string, unknown>;
  seed?: number;
  shardSize?: number;
}

const FP8_HIDDEN = 130;
const FP8_VOCAB = 40;

/** The FP8 weights of the default checkpoint: [200, 130] and [300, 257] among them, as the issue asks. */
const DEFAULT_FP8_WEIGHTS: readonly Fp8WeightSpec[] = [
  { name: 'model.layers.0.self_attn.q_proj.weight', rows: 200, columns: FP8_HIDDEN },
  { name: 'model.layers.0.self_attn.o_proj.weight', rows: FP8_HIDDEN, columns: 200 },
  { name: 'model.layers.0.mlp.down_proj.weight', rows: 300, columns: 257 },
];

/** Embeddings, norms, the router and the head: they stay BF16 in the FP8 releases. */
function deepSeekPlainTensors(seed = 1): TensorWithData[] {
  const random = mulberry32(seed);
  const weight = (name: string, shape: number[]): TensorWithData => makeTensor(name, shape, 'BF16', () => (random() * 2 - 1) * 0.05);
  const norm = (name: string): TensorWithData => makeTensor(name, [FP8_HIDDEN], 'BF16', () => 1 + (random() * 2 - 1) * 0.05);
  return [
    weight('model.embed_tokens.weight', [FP8_VOCAB, FP8_HIDDEN]),
    norm('model.layers.0.input_layernorm.weight'),
    norm('model.layers.0.post_attention_layernorm.weight'),
    weight('model.layers.0.mlp.gate.weight', [8, FP8_HIDDEN]),
    norm('model.norm.weight'),
    weight('lm_head.weight', [FP8_VOCAB, FP8_HIDDEN]),
  ];
}

/**
 * Seeded values whose magnitude differs from block to block (so each block gets its own scale), with exact zeros,
 * a negative zero and tiny values that become E4M3 subnormals.
 */
function fp8TestValues(rows: number, columns: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  const values = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const magnitude = 2 ** -(((row >> 7) * 3 + (column >> 7)) % 5) * 0.02;
      const u = random();
      values[row * columns + column] = u < 0.02 ? 0 : u < 0.03 ? -0 : u < 0.06 ? (random() - 0.5) * magnitude * 1e-4 : (random() * 2 - 1) * magnitude;
    }
  }
  return values;
}

/** Quantizes row-major f32 values to E4M3 with block scales, as apply --dtype fp8 does. */
export function quantizeE4m3(values: Float32Array, rows: number, columns: number, block: readonly [number, number] = DEFAULT_FP8_BLOCK): { bytes: Uint8Array; scales: Float32Array } {
  const [scaleRows, scaleColumns] = blockScaleShape(rows, columns, block);
  const bytes = new Uint8Array(rows * columns);
  const scales = new Float32Array(scaleRows * scaleColumns);
  const src = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  quantizeE4m3BlocksBytes(src, bytes, rows, { columns, blockRows: block[0], blockColumns: block[1] }, scaleColumns, new Uint8Array(scales.buffer));
  return { bytes, scales };
}

/** The tensors of an FP8 checkpoint: each weight's E4M3 bytes followed by its scales, then the plain tensors. */
export function fp8Tensors(options: Fp8CheckpointOptions = {}): { tensors: TensorWithData[]; weights: QuantizedWeight[] } {
  const block = options.block ?? DEFAULT_FP8_BLOCK;
  const seed = options.seed ?? 1;
  const tensors: TensorWithData[] = [];
  const weights: QuantizedWeight[] = [];
  (options.weights ?? DEFAULT_FP8_WEIGHTS).forEach((spec, index) => {
    const values = spec.values ?? fp8TestValues(spec.rows, spec.columns, seed * 1000 + index);
    const { bytes, scales } = quantizeE4m3(values, spec.rows, spec.columns, block);
    tensors.push({ name: spec.name, dtype: 'F8_E4M3', shape: [spec.rows, spec.columns], data: bytes });
    tensors.push({
      name: blockScaleName(spec.name), dtype: 'F32', shape: blockScaleShape(spec.rows, spec.columns, block),
      data: new Uint8Array(scales.buffer),
    });
    weights.push({ name: spec.name, rows: spec.rows, columns: spec.columns, values, bytes, scales });
  });
  tensors.push(...(options.plain ?? deepSeekPlainTensors(seed)));
  return { tensors, weights };
}

export function fp8Config(block: readonly [number, number] = DEFAULT_FP8_BLOCK): Record<string, unknown> {
  return {
    model_type: 'deepseek_v3', architectures: ['DeepseekV3ForCausalLM'], hidden_size: FP8_HIDDEN, vocab_size: FP8_VOCAB,
    num_hidden_layers: 1, torch_dtype: 'bfloat16', tie_word_embeddings: false, quantization_config: blockQuantizationConfig(block),
  };
}

/** Writes a DeepSeek-layout FP8 checkpoint into `dir` and returns what each weight was made from. */
export async function writeFp8Checkpoint(
  dir: string, options: Fp8CheckpointOptions = {},
): Promise<WrittenCheckpoint & { weights: QuantizedWeight[] }> {
  const { tensors, weights } = fp8Tensors(options);
  const config: Record<string, unknown> = { ...fp8Config(options.block), ...options.config };
  for (const key of Object.keys(config)) if (config[key] === undefined) delete config[key];
  const writeOptions: WriteCheckpointOptions = { config, ...(options.shardSize === undefined ? {} : { shardSize: options.shardSize }) };
  return { ...(await writeCheckpoint(dir, tensors, writeOptions)), weights };
}
