import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { SurgeonError, type RefusalRule } from '../../../src/engine/errors';
import { DTYPES } from '../../../src/engine/format/dtype';
import { parseSafetensorsHeader, readSafetensorsHeader } from '../../../src/engine/format/safetensors-header';

const REAL = join(__dirname, '../../fixtures/real');

/** The Rust reference's error variants and the rule this project reports for each. */
const RULE_FOR_REFERENCE_ERROR: Readonly<Record<string, RefusalRule>> = {
  HeaderTooSmall: 'header-too-small',
  HeaderTooLarge: 'header-too-large',
  InvalidHeaderLength: 'file-length',
  InvalidHeader: 'header-not-utf8',
  InvalidHeaderDeserialization: 'header-not-json',
  MetadataIncompleteBuffer: 'file-length',
  TensorInvalidInfo: 'byte-length',
  ValidationOverflow: 'size-overflow',
  InvalidOffset: 'offsets',
};

interface ManifestEntry { file: string; bytes: number; expected: string }

async function safetensorsFiles(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => name.endsWith('.safetensors')).sort().map((name) => join(folder, name));
}

test('every file of the safetensors reference test vectors gives the expected outcome', async () => {
  const folder = join(REAL, 'safetensors-rust-test-edgecases');
  const manifest = JSON.parse(await readFile(join(folder, 'MANIFEST.json'), 'utf8')) as ManifestEntry[];
  assert.equal(manifest.length, (await safetensorsFiles(folder)).length, 'every file is in the manifest');
  for (const entry of manifest) {
    const path = join(folder, entry.file);
    const bytes = await readFile(path);
    assert.equal(bytes.length, entry.bytes);
    if (entry.expected === 'OK') {
      const header = await readSafetensorsHeader(path);
      assert.equal(header.dataStart + (header.tensors.at(-1)?.end ?? 0), bytes.length, entry.file);
      assert.deepEqual(parseSafetensorsHeader(bytes, bytes.length, path), header);
      continue;
    }
    const rule = RULE_FOR_REFERENCE_ERROR[entry.expected];
    assert.ok(rule, `a rule is mapped for ${entry.expected}`);
    await assert.rejects(readSafetensorsHeader(path), (error: unknown) => {
      assert.ok(error instanceof SurgeonError);
      assert.equal(error.rule, rule, `${entry.file}: ${error.message}`);
      assert.equal(error.file, path);
      return true;
    });
    assert.throws(() => parseSafetensorsHeader(bytes, bytes.length, path), (error: unknown) =>
      error instanceof SurgeonError && error.rule === rule);
  }
});

test('the reference vectors name the tensor where there is one', async () => {
  const path = join(REAL, 'safetensors-rust-test-edgecases/test_json_attack_RECONSTRUCTED.safetensors');
  await assert.rejects(readSafetensorsHeader(path), (error: unknown) =>
    error instanceof SurgeonError && /^weight_\d$/.test(error.tensor ?? ''));
  const overflow = join(REAL, 'safetensors-rust-test-edgecases/test_validation_overflow_b.safetensors');
  await assert.rejects(readSafetensorsHeader(overflow), (error: unknown) =>
    error instanceof SurgeonError && error.tensor === 'test');
});

test('every sample of the format project (2022, unaligned headers) parses with its values', async () => {
  const folder = join(REAL, 'safetensors-project-samples-2022');
  const files = await safetensorsFiles(folder);
  assert.equal(files.length, 10);
  const seen = new Set<string>();
  for (const path of files) {
    const header = await readSafetensorsHeader(path);
    assert.deepEqual(header.metadata, { test: 'a' });
    const bytes = await readFile(path);
    for (const tensor of header.tensors) {
      seen.add(tensor.dtype);
      assert.deepEqual(tensor.shape, [6]);
      // The generator wrote range(-3, 3): the first element is -3, wrapped for unsigned dtypes.
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      const at = header.dataStart + tensor.begin;
      const readers: Partial<Record<string, () => number>> = {
        U8: () => view.getUint8(at) - 2 ** 8, I8: () => view.getInt8(at), U16: () => view.getUint16(at, true) - 2 ** 16,
        I16: () => view.getInt16(at, true), U32: () => view.getUint32(at, true) - 2 ** 32, I32: () => view.getInt32(at, true),
        F32: () => view.getFloat32(at, true), F64: () => view.getFloat64(at, true),
      };
      if (tensor.dtype !== 'F16') assert.equal(readers[tensor.dtype]?.(), -3, `${path} ${tensor.name}`);
    }
  }
  assert.deepEqual([...seen].sort(), ['F16', 'F32', 'F64', 'I16', 'I32', 'I8', 'U16', 'U32', 'U8']);
});

test('every torch-written file of burn parses (F32, I64 scalars, BOOL)', async () => {
  const files = await safetensorsFiles(join(REAL, 'burn-import-safetensors-tests'));
  assert.equal(files.length, 22);
  const dtypes = new Set<string>();
  for (const path of files) {
    const header = await readSafetensorsHeader(path);
    assert.equal(header.metadata, undefined);
    assert.equal(header.dataStart % 8, 0, 'the torch writer pads headers to 8 bytes');
    for (const tensor of header.tensors) {
      assert.ok(DTYPES.includes(tensor.dtype));
      dtypes.add(tensor.dtype);
    }
  }
  assert.deepEqual([...dtypes].sort(), ['BOOL', 'F32', 'I64']);
  const batchNorm = await readSafetensorsHeader(join(REAL, 'burn-import-safetensors-tests/batch_norm__batch_norm2d.safetensors'));
  assert.deepEqual(batchNorm.tensors[0], { name: 'norm1.num_batches_tracked', dtype: 'I64', shape: [], begin: 0, end: 8 });
});

test('the tiny Mixtral fine-tunes parse (F32, 4096x64 embedding)', async () => {
  const folder = join(REAL, 'mistral-dna-tiny-mixtral-finetunes');
  for (const name of await readdir(folder)) {
    if (name.endsWith('.txt')) continue;
    const header = await readSafetensorsHeader(join(folder, name, 'model.safetensors'));
    assert.deepEqual(header.metadata, { format: 'pt' });
    const embedding = header.tensors.find((tensor) => tensor.name === 'model.embed_tokens.weight');
    assert.deepEqual(embedding?.shape, [name.includes('Codon') ? 69 : 4096, 64]);
  }
});

test('LFS pointer shards of real repos are refused as pointers with the way out', async () => {
  const pointers = [
    join(REAL, 'gemma-2b-it-only/gemma-2b-it/model-00001-of-00002.safetensors'),
    join(REAL, 'mistral-7b-v0.1-base-vs-instruct/Mistral-7B-v0.1/model-00001-of-00002.safetensors'),
    join(REAL, 'mistral-7b-v0.1-base-vs-instruct/Mistral-7B-v0.1/model-00002-of-00002.safetensors'),
  ];
  for (const path of pointers) {
    await assert.rejects(readSafetensorsHeader(path), (error: unknown) => {
      assert.ok(error instanceof SurgeonError);
      assert.equal(error.rule, 'lfs-pointer');
      assert.equal(error.file, path);
      assert.match(error.message, /Git LFS pointer for a [\d,]+-byte file/);
      assert.match(error.message, /git lfs pull/);
      return true;
    });
  }
});
