/**
 * Writes `wide-base` and `wide-instruct` into a folder: small Llama-like F32 checkpoints whose matrices
 * are 256 wide, so a spectral pass at rank 256 (the diff.spectraRank setting) has 256 singular values
 * to find, and whose deltas have a different rank per module (q 2, k 4, ... down 64, plus a little
 * noise), so the spectra chart draws each module's line apart from the others.
 * Run with tsx: `tsx e2e/lib/make-spectra-pair.ts <folder>`.
 */
import { join, resolve } from 'node:path';
import { encodeFloat32, llamaLikeTensors, mulberry32, writeCheckpoint, type TensorWithData } from '../../test/helpers/make-checkpoint';

const SHAPE = { layers: 3, hidden: 256, intermediate: 320, vocab: 256, dtype: 'F32' as const, tied: false };
/** The rank of each module's delta; the embeddings and norms get noise alone. */
const DELTA_RANK: ReadonlyArray<readonly [RegExp, number]> = [
  [/q_proj/, 2], [/k_proj/, 4], [/v_proj/, 8], [/o_proj/, 16], [/gate_proj/, 24], [/up_proj/, 40], [/down_proj/, 64],
];
/** The delta's norm relative to the weight's, and the noise's share of it. */
const RELATIVE_DELTA = 0.05;
const NOISE_SHARE = 0.02;

async function makeSpectraPair(folder: string): Promise<void> {
  const base = llamaLikeTensors({ ...SHAPE, seed: 11 });
  const random = mulberry32(12);
  const instruct = base.map((tensor) => withDelta(tensor, DELTA_RANK.find(([pattern]) => pattern.test(tensor.name))?.[1] ?? 0, random));
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: SHAPE.hidden, intermediate_size: SHAPE.intermediate,
    num_hidden_layers: SHAPE.layers, num_attention_heads: 4, vocab_size: SHAPE.vocab, tie_word_embeddings: false, torch_dtype: 'float32',
  };
  await writeCheckpoint(join(folder, 'wide-base'), base, { config });
  await writeCheckpoint(join(folder, 'wide-instruct'), instruct, { config });
}

/** `tensor` + a delta of rank `rank` (a sum of outer products) and a little noise, RELATIVE_DELTA of its norm in all. */
function withDelta(tensor: TensorWithData, rank: number, random: () => number): TensorWithData {
  const values = new Float32Array(tensor.data.buffer.slice(tensor.data.byteOffset, tensor.data.byteOffset + tensor.data.byteLength));
  const rows = tensor.shape[0]!;
  const columns = tensor.shape.length > 1 ? tensor.shape[1]! : 1;
  const delta = new Float64Array(values.length);
  for (let k = 0; k < rank; k++) {
    const u = Array.from({ length: rows }, () => random() * 2 - 1);
    const v = Array.from({ length: columns }, () => random() * 2 - 1);
    // Decaying weights: the leading directions carry most of the energy, as in a fine-tuning delta.
    const weight = 1 / (1 + k);
    for (let i = 0; i < rows; i++) for (let j = 0; j < columns; j++) delta[i * columns + j]! += weight * u[i]! * v[j]!;
  }
  const norm = (array: ArrayLike<number>): number => Math.sqrt(Array.prototype.reduce.call(array, (sum: number, x: number) => sum + x * x, 0) as number);
  const weightNorm = norm(values);
  const structured = norm(delta);
  const noise = Float64Array.from({ length: values.length }, () => random() * 2 - 1);
  const noiseNorm = norm(noise);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const low = structured > 0 ? (delta[i]! / structured) * (1 - NOISE_SHARE) : 0;
    const share = structured > 0 ? NOISE_SHARE : 1;
    out[i] = values[i]! + RELATIVE_DELTA * weightNorm * (low + (share * noise[i]!) / noiseNorm);
  }
  return { ...tensor, data: encodeFloat32(out, 'F32') };
}

const target = process.argv[2];
if (target !== undefined && process.argv[1]?.endsWith('make-spectra-pair.ts')) {
  void makeSpectraPair(resolve(target));
}
