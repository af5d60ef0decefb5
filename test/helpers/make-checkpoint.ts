/**
 * Builds small checkpoints on disk for tests, with the project's own safetensors writer, so
 * that job tests run on files laid out exactly like the ones we write and transformers writes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dtype } from '../../src/engine/format/dtype';
import {
  DEFAULT_METADATA, encodeIndex, INDEX_FILE_NAME, planShards, tensorByteLength,
} from '../../src/engine/format/safetensors-writer';

export interface TensorWithData {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Little-endian element bytes, C order. */
  data: Uint8Array;
}

export interface WriteCheckpointOptions {
  /** Maximum data bytes per shard; one shard gives `model.safetensors` and no index. */
  shardSize?: number;
  /** Written as config.json (2-space JSON). */
  config?: Record<string, unknown>;
  /** Extra files written verbatim, by name (tokenizer.json, generation_config.json, ...). */
  sideFiles?: Record<string, string>;
  /** `__metadata__` of every shard; null leaves it out. Defaults to {"format":"pt"}. */
  metadata?: Record<string, string> | null;
}

export interface WrittenCheckpoint {
  dir: string;
  /** File names of the weight files, in shard order. */
  files: string[];
  indexPath?: string;
}

export async function writeCheckpoint(
  dir: string,
  tensors: readonly TensorWithData[],
  options: WriteCheckpointOptions = {},
): Promise<WrittenCheckpoint> {
  const byName = new Map(tensors.map((tensor) => [tensor.name, tensor]));
  for (const tensor of tensors) {
    const expected = tensorByteLength(tensor);
    if (tensor.data.byteLength !== expected) {
      throw new Error(`${tensor.name}: ${tensor.data.byteLength} data bytes given, ${expected} expected`);
    }
  }
  await mkdir(dir, { recursive: true });
  const plans = planShards(tensors, options.shardSize ?? Number.MAX_SAFE_INTEGER, options.metadata === undefined ? DEFAULT_METADATA : options.metadata);
  for (const plan of plans) {
    const file = new Uint8Array(plan.header.length + plan.dataBytes);
    file.set(plan.header, 0);
    plan.tensors.forEach((tensor, index) => {
      const [begin] = plan.offsets[index] ?? [0];
      file.set(byName.get(tensor.name)?.data ?? new Uint8Array(0), plan.header.length + begin);
    });
    await writeFile(join(dir, plan.fileName), file);
  }
  let indexPath: string | undefined;
  if (plans.length > 1) {
    indexPath = join(dir, INDEX_FILE_NAME);
    const totalSize = plans.reduce((sum, plan) => sum + plan.dataBytes, 0);
    await writeFile(indexPath, encodeIndex(plans, totalSize));
  }
  if (options.config !== undefined) {
    await writeFile(join(dir, 'config.json'), `${JSON.stringify(options.config, null, 2)}\n`);
  }
  for (const [name, content] of Object.entries(options.sideFiles ?? {})) {
    await writeFile(join(dir, name), content);
  }
  return { dir, files: plans.map((plan) => plan.fileName), ...(indexPath === undefined ? {} : { indexPath }) };
}

export type LlamaDtype = 'F32' | 'BF16' | 'F16';

export interface LlamaLikeOptions {
  layers: number;
  hidden: number;
  vocab: number;
  dtype: LlamaDtype;
  /** Tied embeddings: no lm_head.weight (config `tie_word_embeddings: true`). */
  tied: boolean;
  seed: number;
  /** MLP width; defaults to 2 * hidden. */
  intermediate?: number;
}

/**
 * Llama-named tensors in the state-dict order of transformers, filled with deterministic
 * pseudo-random values (weights around 0, norms around 1) in the requested dtype.
 */
export function llamaLikeTensors(options: LlamaLikeOptions): TensorWithData[] {
  const { layers, hidden, vocab, dtype, tied, seed } = options;
  const intermediate = options.intermediate ?? 2 * hidden;
  const random = mulberry32(seed);
  const weight = (name: string, shape: number[]): TensorWithData => {
    const scale = 1 / Math.sqrt(shape[shape.length - 1] ?? 1);
    return makeTensor(name, shape, dtype, () => (random() * 2 - 1) * scale);
  };
  const norm = (name: string): TensorWithData =>
    makeTensor(name, [hidden], dtype, () => 1 + (random() * 2 - 1) * 0.05);
  const tensors: TensorWithData[] = [weight('model.embed_tokens.weight', [vocab, hidden])];
  for (let layer = 0; layer < layers; layer++) {
    const prefix = `model.layers.${layer}`;
    for (const projection of ['q', 'k', 'v', 'o']) {
      tensors.push(weight(`${prefix}.self_attn.${projection}_proj.weight`, [hidden, hidden]));
    }
    tensors.push(weight(`${prefix}.mlp.gate_proj.weight`, [intermediate, hidden]));
    tensors.push(weight(`${prefix}.mlp.up_proj.weight`, [intermediate, hidden]));
    tensors.push(weight(`${prefix}.mlp.down_proj.weight`, [hidden, intermediate]));
    tensors.push(norm(`${prefix}.input_layernorm.weight`));
    tensors.push(norm(`${prefix}.post_attention_layernorm.weight`));
  }
  tensors.push(norm('model.norm.weight'));
  if (!tied) tensors.push(weight('lm_head.weight', [vocab, hidden]));
  return tensors;
}

/** A tensor whose elements come from `next()` (f32 values, narrowed with round-to-nearest-even). */
export function makeTensor(name: string, shape: number[], dtype: LlamaDtype, next: () => number): TensorWithData {
  const count = shape.reduce((product, dimension) => product * dimension, 1);
  const values = new Float32Array(count);
  for (let index = 0; index < count; index++) values[index] = next();
  return { name, dtype, shape, data: encodeFloat32(values, dtype) };
}

/** f32 values as little-endian F32, BF16 or F16 bytes (round-to-nearest-even, NaN kept quiet). */
export function encodeFloat32(values: Float32Array, dtype: LlamaDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  const narrow = dtype === 'BF16' ? f32BitsToBf16Bits : f32BitsToF16Bits;
  for (let index = 0; index < values.length; index++) {
    view.setUint16(index * 2, narrow(bits[index] ?? 0), true);
  }
  return out;
}

/** NaN becomes 0x7FC0, as PyTorch's c10::BFloat16 conversion writes it. */
export function f32BitsToBf16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  const roundingBias = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + roundingBias) >>> 16) & 0xffff;
}

/** NaN becomes sign | 0x7E00, as PyTorch's c10::Half conversion writes it. */
export function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | (mantissa !== 0 ? 0x7e00 : 0x7c00);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half: shift the full 24-bit significand right and round the dropped bits.
    if (halfExponent < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    return sign | roundShiftedRight(significand, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  return sign | (((halfExponent << 10) | (mantissa >>> 13)) + roundingIncrement(mantissa, 13, mantissa >>> 13));
}

function roundShiftedRight(value: number, shift: number): number {
  const kept = Math.floor(value / 2 ** shift);
  return kept + roundingIncrement(value, shift, kept);
}

function roundingIncrement(value: number, droppedBits: number, kept: number): number {
  const dropped = value % 2 ** droppedBits;
  const half = 2 ** (droppedBits - 1);
  return dropped > half || (dropped === half && (kept & 1) === 1) ? 1 : 0;
}

/** A small, fast, seedable PRNG (mulberry32); returns values in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
