import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { SurgeonError } from '../../../src/engine/errors';
import { DTYPES, DTYPE_BITS, type Dtype } from '../../../src/engine/format/dtype';
import { readSafetensorsHeader } from '../../../src/engine/format/safetensors-header';
import {
  compareCodePoints, encodeIndex, encodeSafetensorsHeader, orderForWriting, planShards, shardFileName,
  tensorByteLength, type PlannedTensor,
} from '../../../src/engine/format/safetensors-writer';

const REAL = join(__dirname, '../../fixtures/real');
const scratch = mkdtemp(join(tmpdir(), 'surgeon-writer-'));
after(async () => rm(await scratch, { recursive: true, force: true }));

async function realFiles(): Promise<string[]> {
  const burn = join(REAL, 'burn-import-safetensors-tests');
  const dna = join(REAL, 'mistral-dna-tiny-mixtral-finetunes');
  return [
    ...(await readdir(burn)).filter((name) => name.endsWith('.safetensors')).map((name) => join(burn, name)),
    ...(await readdir(dna)).filter((name) => !name.endsWith('.txt')).map((name) => join(dna, name, 'model.safetensors')),
  ];
}

test('re-encodes the headers of torch-written files byte for byte from shuffled tensors', async () => {
  const files = await realFiles();
  assert.equal(files.length, 25);
  for (const path of files) {
    const header = await readSafetensorsHeader(path);
    const planned: PlannedTensor[] = header.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape }));
    const shuffled = planned.map((tensor, index) => ({ tensor, key: (index * 7919) % 104729 }))
      .sort((a, b) => a.key - b.key).map(({ tensor }) => tensor).reverse();
    const { bytes, offsets } = encodeSafetensorsHeader(orderForWriting(shuffled), header.metadata ?? null);
    const original = (await readFile(path)).subarray(0, header.dataStart);
    assert.deepEqual(Buffer.from(bytes), Buffer.from(original), path);
    assert.deepEqual(offsets, header.tensors.map((tensor) => [tensor.begin, tensor.end]));
  }
});

test('encodes the exact bytes of the reference writer for one tensor', () => {
  const { bytes } = encodeSafetensorsHeader([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3] }], null);
  const text = new TextDecoder().decode(bytes.subarray(8));
  assert.equal(text, '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
  assert.equal(new DataView(bytes.buffer).getBigUint64(0, true), BigInt(text.length));
  const padded = encodeSafetensorsHeader([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3] }], null).bytes;
  assert.equal(padded.length % 8, 0);
  assert.match(new TextDecoder().decode(padded.subarray(8)), /}} {7}$/);
  const empty = encodeSafetensorsHeader([], { framework: 'pt' }).bytes;
  assert.equal(new TextDecoder().decode(empty.subarray(8)), '{"__metadata__":{"framework":"pt"}}     ');
});

test('orders by dtype rank descending (I64 before F32 before BF16 before BOOL), then by name', () => {
  const tensors: PlannedTensor[] = [
    { name: 'b', dtype: 'BOOL', shape: [1] }, { name: 'a', dtype: 'BF16', shape: [1] },
    { name: 'z', dtype: 'F32', shape: [1] }, { name: 'y', dtype: 'F32', shape: [1] },
    { name: 'n', dtype: 'I64', shape: [] }, { name: 'q', dtype: 'F4', shape: [2] },
  ];
  assert.deepEqual(orderForWriting(tensors).map((tensor) => tensor.name), ['n', 'y', 'z', 'a', 'q', 'b']);
});

test('round trip: written files read back with the same tensors and data', async () => {
  const dtype = fc.constantFrom(...DTYPES.filter((candidate) => DTYPE_BITS[candidate] % 8 === 0));
  const tensor = fc.record({
    name: fc.string({ minLength: 1, maxLength: 12 }).filter((name) => name !== '__metadata__'),
    dtype,
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  });
  let round = 0;
  await fc.assert(fc.asyncProperty(fc.uniqueArray(tensor, { selector: (entry) => entry.name, maxLength: 6 }),
    fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }), async (tensors, metadata) => {
      const ordered = orderForWriting(tensors);
      const { bytes, offsets } = encodeSafetensorsHeader(ordered, metadata);
      const dataLength = offsets.at(-1)?.[1] ?? 0;
      const data = Uint8Array.from({ length: dataLength }, (_, index) => (index * 31 + 7) & 0xff);
      const path = join(await scratch, `round-${round++}.safetensors`);
      await writeFile(path, Buffer.concat([bytes, data]));
      const header = await readSafetensorsHeader(path);
      assert.deepEqual(header.metadata, { ...metadata });
      assert.equal(header.dataStart, bytes.length);
      const byName = new Map(header.tensors.map((info) => [info.name, info]));
      ordered.forEach((planned, index) => {
        const info = byName.get(planned.name);
        assert.deepEqual(info && [info.dtype, info.shape, info.begin, info.end], [planned.dtype, planned.shape, ...(offsets[index] ?? [])]);
      });
      const again = encodeSafetensorsHeader(
        orderForWriting(header.tensors.map(({ name, dtype: kind, shape }) => ({ name, dtype: kind, shape }))), header.metadata);
      assert.deepEqual(again.bytes, bytes);
      const file = await readFile(path);
      assert.deepEqual(file.subarray(bytes.length), Buffer.from(data));
    }), { numRuns: 60 });
});

test('refuses sub-byte tensors that do not fill whole bytes, and duplicate names', () => {
  assert.equal(tensorByteLength({ name: 'q', dtype: 'F4', shape: [6] }), 3);
  assert.throws(() => encodeSafetensorsHeader([{ name: 'q', dtype: 'F4', shape: [3] }]),
    (error: unknown) => error instanceof SurgeonError && error.rule === 'byte-length' && error.tensor === 'q');
  assert.throws(() => encodeSafetensorsHeader([{ name: 'w', dtype: 'U8', shape: [1] }, { name: 'w', dtype: 'U8', shape: [1] }]),
    (error: unknown) => error instanceof SurgeonError && error.rule === 'duplicate-tensor');
});

function tensorOf(name: string, bytes: number, dtype: Dtype = 'U8'): PlannedTensor {
  return { name, dtype, shape: [bytes / (DTYPE_BITS[dtype] / 8)] };
}

test('plans shards like huggingface_hub: fill in order, oversize tensors alone', () => {
  const tensors = [tensorOf('a', 40), tensorOf('b', 50), tensorOf('c', 30), tensorOf('huge', 250), tensorOf('d', 80), tensorOf('e', 20)];
  const plans = planShards(tensors, 100);
  // The oversize tensor is emitted at once, before the shard being filled is closed (as the hub does).
  assert.deepEqual(plans.map((plan) => plan.tensors.map((tensor) => tensor.name)), [['a', 'b'], ['huge'], ['c'], ['d', 'e']]);
  assert.deepEqual(plans.map((plan) => plan.fileName), [1, 2, 3, 4].map((index) => shardFileName(index, 4)));
  assert.equal(plans[0]?.fileName, 'model-00001-of-00004.safetensors');
  assert.deepEqual(plans.map((plan) => plan.dataBytes), [90, 250, 30, 100]);
  for (const plan of plans) {
    assert.equal(plan.header.length % 8, 0);
    assert.deepEqual(plan.offsets.at(-1)?.[1], plan.dataBytes);
  }
});

test('one shard is model.safetensors, written in reference order', () => {
  const plans = planShards([tensorOf('z', 8, 'F32'), tensorOf('a', 8, 'F16')], 1_000);
  assert.equal(plans.length, 1);
  assert.equal(plans[0]?.fileName, 'model.safetensors');
  assert.deepEqual(plans[0]?.tensors.map((tensor) => tensor.name), ['z', 'a']);
  assert.equal(planShards([], 10)[0]?.fileName, 'model.safetensors');
});

async function assertIndexReproduced(path: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const index = JSON.parse(text) as { metadata: { total_size: number }; weight_map: Record<string, string> };
  const byShard = new Map<string, Array<{ name: string }>>();
  // Shuffle the names so the encoder's own sorting is what is tested.
  for (const [name, shard] of Object.entries(index.weight_map).reverse()) {
    byShard.set(shard, [...(byShard.get(shard) ?? []), { name }]);
  }
  const plans = [...byShard].map(([fileName, tensors]) => ({ fileName, tensors }));
  assert.equal(encodeIndex(plans, index.metadata.total_size), text, path);
}

test('encodes the index exactly as transformers wrote the Mixtral and gemma indexes', async () => {
  await assertIndexReproduced(join(REAL, 'sharded-index-files/Mixtral-8x7B-v0.1/model.safetensors.index.json'));
  await assertIndexReproduced(join(REAL, 'gemma-2b-it-only/gemma-2b-it/model.safetensors.index.json'));
});

test('escapes non-ASCII names in the index as Python json.dumps does', () => {
  const text = encodeIndex([{ fileName: 'model-00001-of-00001.safetensors', tensors: [{ name: 'caf\u00e9.\u{1f600}' }, { name: 'b\u007f' }] }], 7);
  assert.ok(text.includes('"b\\u007f": "model-00001-of-00001.safetensors",\n'));
  assert.ok(text.includes('"caf\\u00e9.\\ud83d\\ude00"'));
  assert.deepEqual(Object.keys((JSON.parse(text) as { weight_map: object }).weight_map), ['b\u007f', 'caf\u00e9.\u{1f600}']);
});

test('compareCodePoints sorts like UTF-8 bytes', () => {
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
    const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    assert.equal(Math.sign(compareCodePoints(a, b)), expected);
  }), { numRuns: 500 });
  assert.ok(compareCodePoints('\u{1f600}', '\uffff') > 0, 'astral characters sort after the BMP');
});
