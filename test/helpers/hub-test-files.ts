/** Small real and generated files that the Hub tests put into fake repos and caches. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const fixtures = join(__dirname, '../fixtures/hub');

/** A real PyTorch-written safetensors file (burn's linear_with_bias test vector). */
export const REAL_WEIGHTS = readFileSync(join(fixtures, 'linear__linear_with_bias.safetensors'));
/** A real config.json (ollama's MiniCPM3 test data). */
export const REAL_CONFIG = readFileSync(join(fixtures, 'minicpm3-config.json'));

/** A valid single-tensor F32 safetensors file of `elementCount` elements with varied bytes. */
export function makeSafetensors(name: string, elementCount: number): Buffer {
  let header = JSON.stringify({ __metadata__: { format: 'pt' }, [name]: { dtype: 'F32', shape: [elementCount], data_offsets: [0, elementCount * 4] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const data = Buffer.alloc(elementCount * 4);
  for (let i = 0; i < elementCount; i++) data.writeFloatLE(Math.sin(i) * 3, i * 4);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, Buffer.from(header), data]);
}

/** A `model.safetensors.index.json` mapping one tensor to each shard. */
export function makeIndex(shards: string[]): string {
  return JSON.stringify({
    metadata: { total_size: 0 },
    weight_map: Object.fromEntries(shards.map((shard, i) => [`layers.${i}.weight`, shard])),
  });
}
