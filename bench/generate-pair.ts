/**
 * The synthetic base/instruct pair the end-to-end benchmark streams: one bf16 file per model of
 * 64 MiB tensors, generated once under `.bench/pair-<N>gb` and reused while its size is right.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

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

function encodeHeader(count: number): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  for (let index = 0; index < count; index++) {
    header[`model.layers.${index}.mlp.up_proj.weight`] = {
      dtype: 'BF16', shape: [TENSOR_ROWS, TENSOR_COLUMNS], data_offsets: [index * TENSOR_BYTES, (index + 1) * TENSOR_BYTES],
    };
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, Buffer.from(json)]);
}

function writeModel(dir: string, count: number, header: Buffer): void {
  mkdirSync(dir, { recursive: true });
  // Written under a temporary name, so that an interrupted generation is never mistaken for a model.
  const partial = join(dir, 'model.safetensors.partial');
  const fd = openSync(partial, 'w');
  try {
    writeSync(fd, header);
    const data = Buffer.alloc(TENSOR_BYTES);
    for (let index = 0; index < count; index++) {
      randomFillSync(data);
      // Exponents within a narrow band (|x| in [2^-8, 2^-4)), like real weights: finite, and the f32
      // difference of two such bf16 values is exact, so the f32 residual verifies bit for bit.
      for (let byte = 1; byte < data.length; byte += 2) data[byte] = (data[byte]! & 0x81) | 0x3c;
      writeSync(fd, data);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(partial, join(dir, 'model.safetensors'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: TENSOR_COLUMNS, num_hidden_layers: count }));
}

/** The pair of about `gb` GB per model under `benchDir`, generated unless a complete one is there. */
export function ensureSyntheticPair(benchDir: string, gb: number): SyntheticPair {
  const count = Math.max(1, Math.round((gb * 1e9) / TENSOR_BYTES));
  const header = encodeHeader(count);
  const modelBytes = header.length + count * TENSOR_BYTES;
  const root = join(benchDir, `pair-${gb}gb`);
  const pair: SyntheticPair = {
    gb,
    baseDir: join(root, 'base'),
    instructDir: join(root, 'instruct'),
    baseFile: join(root, 'base', 'model.safetensors'),
    instructFile: join(root, 'instruct', 'model.safetensors'),
    modelBytes,
    tensorCount: count,
  };
  for (const [dir, file] of [[pair.baseDir, pair.baseFile], [pair.instructDir, pair.instructFile]] as const) {
    if (existsSync(file) && statSync(file).size === modelBytes && existsSync(join(dir, 'config.json'))) continue;
    console.log(`generating ${file} (${(modelBytes / 1e9).toFixed(2)} GB)...`);
    writeModel(dir, count, header);
  }
  return pair;
}
