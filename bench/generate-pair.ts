/**
 * The synthetic base/instruct pair the end-to-end benchmark streams: one bf16 file per model of
 * 64 MiB tensors, generated once under `.bench/pair-v3-<N>gb` and reused while its size is right.
 * The base weights are normal; the instruct weights are the base ones changed a little, so that the
 * residual looks like a real one (about half its elements zero, the rest small).
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensorsHeader, orderForWriting } from '../src/engine/format/safetensors-writer';
import { bf16ToNumber, numberToBf16Bits } from '../src/engine/numerics/bfloat16';

/** 8192 x 4096 bf16, the size of a 7 B model's MLP projection: many tensors, none tiny. */
const TENSOR_ROWS = 8192;
const TENSOR_COLUMNS = 4096;
const TENSOR_BYTES = TENSOR_ROWS * TENSOR_COLUMNS * 2;

export interface SyntheticPair {
  gb: number;
  baseDir: string;
  instructDir: string;
  baseFile: string;
  instructFile: string;
  /** Bytes of one model's file (header included). */
  modelBytes: number;
  tensorCount: number;
}

/**
 * The tensors in the order the reference writer (Python's safetensors) lays them out, which is by name:
 * `layers.10` before `layers.2`. Real checkpoints come in that order, and jobs write it, so a job
 * reading this pair meets its tensors in file order, as it would a real checkpoint's.
 */
function encodeHeader(count: number): Buffer {
  const tensors = orderForWriting(Array.from({ length: count }, (_, index) => ({
    name: `model.layers.${index}.mlp.up_proj.weight`, dtype: 'BF16' as const, shape: [TENSOR_ROWS, TENSOR_COLUMNS],
  })));
  return Buffer.from(encodeSafetensorsHeader(tensors, { format: 'pt' }).bytes);
}

/**
 * The instruct weights are the base ones times 1 + u, u uniform in +-this. A bf16 value moves only when the
 * change exceeds half a unit in its last place (2^-9 to 2^-8 of it), so about half the elements come out
 * unchanged, as after a short instruction tuning: the kernels see the repeated histogram keys and the
 * unchanged runs of real residuals.
 */
export const INSTRUCT_RELATIVE_CHANGE = 5.6e-3;
/** Standard deviation of the base weights (a 7 B model's projections are about this). */
export const BASE_STD = 0.02;

/** xorshift32 as a stream of uniform numbers in (0, 1); deterministic, so every machine benches the same data. */
export function uniforms(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 0.5) / 2 ** 32;
  };
}

/** One tensor of base weights and the instruct weights derived from them, as bf16 bits. */
function fillTensorPair(base: Uint16Array, instruct: Uint16Array, random: () => number): void {
  for (let i = 0; i < base.length; i += 2) {
    // Box-Muller: two normal numbers from two uniforms.
    const radius = Math.sqrt(-2 * Math.log(random()));
    const angle = 2 * Math.PI * random();
    for (const [offset, normal] of [[0, radius * Math.cos(angle)], [1, radius * Math.sin(angle)]] as const) {
      if (i + offset >= base.length) break;
      const weight = numberToBf16Bits(normal * BASE_STD);
      base[i + offset] = weight;
      instruct[i + offset] = numberToBf16Bits(bf16ToNumber(weight) * (1 + INSTRUCT_RELATIVE_CHANGE * (2 * random() - 1)));
    }
  }
}

function writePair(pair: SyntheticPair, count: number, header: Buffer): void {
  for (const dir of [pair.baseDir, pair.instructDir]) mkdirSync(dir, { recursive: true });
  // Written under temporary names, so that an interrupted generation is never mistaken for a model.
  const partials = [`${pair.baseFile}.partial`, `${pair.instructFile}.partial`];
  const fds = partials.map((partial) => openSync(partial, 'w'));
  try {
    for (const fd of fds) writeSync(fd, header);
    const base = new Uint16Array(TENSOR_ROWS * TENSOR_COLUMNS);
    const instruct = new Uint16Array(TENSOR_ROWS * TENSOR_COLUMNS);
    const random = uniforms(0x5eed);
    for (let index = 0; index < count; index++) {
      fillTensorPair(base, instruct, random);
      writeSync(fds[0]!, base);
      writeSync(fds[1]!, instruct);
    }
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  renameSync(partials[0]!, pair.baseFile);
  renameSync(partials[1]!, pair.instructFile);
  for (const dir of [pair.baseDir, pair.instructDir]) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: TENSOR_COLUMNS, num_hidden_layers: count }));
  }
}

/** The pair of about `gb` GB per model under `benchDir`, generated unless a complete one is there. */
export function ensureSyntheticPair(benchDir: string, gb: number): SyntheticPair {
  const count = Math.max(1, Math.round((gb * 1e9) / TENSOR_BYTES));
  const header = encodeHeader(count);
  const modelBytes = header.length + count * TENSOR_BYTES;
  // The data's version is in the name: a pair generated by an older recipe is not reused.
  const root = join(benchDir, `pair-v3-${gb}gb`);
  const pair: SyntheticPair = {
    gb,
    baseDir: join(root, 'base'),
    instructDir: join(root, 'instruct'),
    baseFile: join(root, 'base', 'model.safetensors'),
    instructFile: join(root, 'instruct', 'model.safetensors'),
    modelBytes,
    tensorCount: count,
  };
  const complete = [pair.baseFile, pair.instructFile].every((file) => existsSync(file) && statSync(file).size === modelBytes)
    && [pair.baseDir, pair.instructDir].every((dir) => existsSync(join(dir, 'config.json')));
  if (!complete) {
    console.log(`generating ${root} (2 x ${(modelBytes / 1e9).toFixed(2)} GB)...`);
    writePair(pair, count, header);
  }
  return pair;
}
