import assert from 'node:assert/strict';
import { copyFile, open, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertUnchanged } from '../../../src/engine/checkpoint/assert-unchanged';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { SurgeonError, type RefusalRule } from '../../../src/engine/errors';
import { encodeIndex } from '../../../src/engine/format/safetensors-writer';
import { makeTensor, writeCheckpoint, type TensorWithData } from '../../helpers/make-checkpoint';
import { scratchFolders } from '../../helpers/scratch-folders';

const REAL = join(__dirname, '../../fixtures/real');
const DNA = join(REAL, 'mistral-dna-tiny-mixtral-finetunes');
const TF0 = join(DNA, 'Mistral-DNA-v1-1M-hg38-finetuned-tf0');
const TF1 = join(DNA, 'Mistral-DNA-v1-1M-hg38-finetuned-tf1');
const CODON = join(DNA, 'Mistral-Codon-v1-1M-finetuned-mRFP');

const scratch = scratchFolders('surgeon-checkpoint-');

function tensor(name: string, values: number[]): TensorWithData {
  let index = 0;
  return makeTensor(name, [values.length], 'F32', () => values[index++] ?? 0);
}

async function assertRefused(path: string, rule: RefusalRule, check?: (error: SurgeonError) => void): Promise<void> {
  await assert.rejects(openCheckpoint(path), (error: unknown) => {
    assert.ok(error instanceof SurgeonError, String(error));
    assert.equal(error.rule, rule, error.message);
    check?.(error);
    return true;
  });
}

test('opens the real tiny Mixtral fine-tunes with config and side files', async () => {
  const checkpoint = await openCheckpoint(TF0);
  assert.equal(checkpoint.layout, 'single');
  assert.equal(checkpoint.root, TF0);
  assert.equal(checkpoint.files.length, 1);
  assert.equal(checkpoint.files[0]?.name, 'model.safetensors');
  assert.equal(checkpoint.config?.['model_type'], 'mixtral');
  assert.equal(checkpoint.generationConfig, undefined);
  assert.deepEqual(checkpoint.sideFiles, ['tokenizer.json', 'tokenizer_config.json']);
  const embedding = checkpoint.tensors.get('model.embed_tokens.weight');
  assert.deepEqual(embedding && [embedding.dtype, embedding.shape, embedding.elementCount, embedding.byteLength],
    ['F32', [4096, 64], 4096 * 64, 4096 * 64 * 4]);
  // Tensors come in offset order and their absolute offsets tile the data buffer.
  let expected = checkpoint.files[0]?.header.dataStart ?? -1;
  for (const ref of checkpoint.tensors.values()) {
    assert.equal(ref.offset, expected);
    expected += ref.byteLength;
  }
  assert.equal(expected, checkpoint.files[0]?.size);

  const sibling = await openCheckpoint(TF1);
  assert.deepEqual([...sibling.tensors.values()].map((ref) => [ref.name, ref.shape]),
    [...checkpoint.tensors.values()].map((ref) => [ref.name, ref.shape]));
  const codon = await openCheckpoint(CODON);
  assert.deepEqual(codon.tensors.get('model.embed_tokens.weight')?.shape, [69, 64]);
  assert.equal(codon.tensors.size, checkpoint.tensors.size);
});

test('a tensor reference points at the tensor bytes in the file', async () => {
  const checkpoint = await openCheckpoint(join(TF0, 'model.safetensors'));
  assert.equal(checkpoint.layout, 'file');
  assert.equal(checkpoint.config, undefined);
  assert.deepEqual(checkpoint.sideFiles, []);
  const file = await readFile(join(TF0, 'model.safetensors'));
  const header = checkpoint.files[0]?.header;
  assert.ok(header);
  for (const info of header.tensors) {
    const ref = checkpoint.tensors.get(info.name);
    assert.ok(ref);
    assert.deepEqual(file.subarray(ref.offset, ref.offset + ref.byteLength),
      file.subarray(header.dataStart + info.begin, header.dataStart + info.end));
  }
});

test('LFS pointer checkpoints are refused as pointers (gemma, Mistral-7B)', async () => {
  // gemma's second shard is missing too; the pointer is the error that explains it.
  for (const folder of [join(REAL, 'gemma-2b-it-only/gemma-2b-it'), join(REAL, 'mistral-7b-v0.1-base-vs-instruct/Mistral-7B-v0.1')]) {
    await assertRefused(folder, 'lfs-pointer', (error) => {
      assert.match(error.message, /git lfs pull/);
      assert.match(error.file ?? '', /model-0000\d-of-00002\.safetensors$/);
    });
  }
});

test('opens a 19-shard checkpoint laid out by the real Mixtral index, by folder and by index path', async () => {
  const folder = await scratch();
  const indexPath = join(REAL, 'sharded-index-files/Mixtral-8x7B-v0.1/model.safetensors.index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map: Record<string, string> };
  const shards = new Map<string, TensorWithData[]>();
  let counter = 0;
  for (const [name, shard] of Object.entries(index.weight_map)) {
    shards.set(shard, [...(shards.get(shard) ?? []), tensor(name, [counter++])]);
  }
  for (const [shard, tensors] of shards) {
    const shardFolder = join(folder, `.${shard}`);
    await writeCheckpoint(shardFolder, tensors);
    await copyFile(join(shardFolder, 'model.safetensors'), join(folder, shard));
    await rm(shardFolder, { recursive: true });
  }
  await copyFile(indexPath, join(folder, 'model.safetensors.index.json'));
  await copyFile(join(REAL, 'sharded-index-files/Mixtral-8x7B-v0.1/config.json'), join(folder, 'config.json'));
  await copyFile(join(REAL, 'sharded-index-files/Mixtral-8x7B-v0.1/generation_config.json'), join(folder, 'generation_config.json'));

  const started = performance.now();
  const checkpoint = await openCheckpoint(folder);
  const elapsed = performance.now() - started;
  assert.equal(checkpoint.layout, 'sharded');
  assert.equal(checkpoint.files.length, 19);
  assert.equal(checkpoint.tensors.size, 995);
  assert.equal(checkpoint.indexPath, join(folder, 'model.safetensors.index.json'));
  assert.equal(checkpoint.config?.['model_type'], 'mixtral');
  assert.equal(typeof checkpoint.generationConfig?.['bos_token_id'], 'number');
  assert.deepEqual(checkpoint.sideFiles, ['generation_config.json']);
  assert.deepEqual(checkpoint.files.map((file) => file.name), [...shards.keys()].sort());
  // File order, then offset order.
  const order = [...checkpoint.tensors.values()].map((ref) => `${ref.file.name}:${String(ref.offset).padStart(12, '0')}`);
  assert.deepEqual(order, [...order].sort());
  assert.equal(checkpoint.tensors.get('lm_head.weight')?.file.name, 'model-00019-of-00019.safetensors');
  const byIndex = await openCheckpoint(join(folder, 'model.safetensors.index.json'));
  assert.equal(byIndex.tensors.size, 995);
  console.log(`# opened 19 shards / 995 tensors in ${elapsed.toFixed(1)} ms`);
});

test('a single file of another name is the checkpoint of its folder', async () => {
  const folder = await scratch();
  await writeCheckpoint(folder, [tensor('w', [1, 2])], { config: { model_type: 'residual' } });
  await copyFile(join(folder, 'model.safetensors'), join(folder, 'pytorch_model.safetensors'));
  await rm(join(folder, 'model.safetensors'));
  const checkpoint = await openCheckpoint(folder);
  assert.equal(checkpoint.layout, 'single');
  assert.equal(checkpoint.files[0]?.name, 'pytorch_model.safetensors');
  assert.deepEqual(checkpoint.config, { model_type: 'residual' });
});

test('folders without weights, with two models, or with shards but no index are refused clearly', async () => {
  const empty = await scratch();
  await assertRefused(empty, 'no-weights', (error) => assert.equal(error.file, empty));
  const binOnly = await scratch();
  await writeFile(join(binOnly, 'pytorch_model.bin'), 'x');
  await assertRefused(binOnly, 'no-weights', (error) => assert.match(error.message, /pytorch_model\.bin/));
  const two = await scratch();
  await writeCheckpoint(two, [tensor('w', [1])]);
  await copyFile(join(two, 'model.safetensors'), join(two, 'other.safetensors'));
  await rm(join(two, 'model.safetensors'));
  await copyFile(join(two, 'other.safetensors'), join(two, 'adapter.safetensors'));
  await assertRefused(two, 'mixed-models', (error) => assert.match(error.message, /adapter\.safetensors, other\.safetensors/));
  const orphanShards = await scratch();
  await writeCheckpoint(orphanShards, [tensor('a', [1]), tensor('b', [2])], { shardSize: 4 });
  await rm(join(orphanShards, 'model.safetensors.index.json'));
  await assertRefused(orphanShards, 'index', (error) => assert.match(error.message, /no model\.safetensors\.index\.json/));
  await assertRefused(join(empty, 'nothing-here'), 'io');
});

test('an index and its shards must agree', async () => {
  const build = async (): Promise<string> => {
    const folder = await scratch();
    await writeCheckpoint(folder, [tensor('a', [1]), tensor('b', [2]), tensor('c', [3])], { shardSize: 8 });
    return folder;
  };
  const indexOf = async (folder: string) =>
    JSON.parse(await readFile(join(folder, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const rewrite = async (folder: string, weightMap: Record<string, string>) =>
    writeFile(join(folder, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 12 }, weight_map: weightMap }));

  const good = await build();
  const opened = await openCheckpoint(good);
  assert.deepEqual(opened.files.map((file) => file.name), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  assert.deepEqual([...opened.tensors.keys()], ['a', 'b', 'c']);

  const missingShard = await build();
  await rm(join(missingShard, 'model-00002-of-00002.safetensors'));
  await assertRefused(missingShard, 'missing-shard', (error) => assert.match(error.file ?? '', /model-00002-of-00002/));

  const escaping = await build();
  await rewrite(escaping, { ...(await indexOf(escaping)).weight_map, c: '../model-00002-of-00002.safetensors' });
  await assertRefused(escaping, 'shard-path', (error) => assert.equal(error.tensor, 'c'));

  const notInHeader = await build();
  await rewrite(notInHeader, { ...(await indexOf(notInHeader)).weight_map, ghost: 'model-00001-of-00002.safetensors' });
  await assertRefused(notInHeader, 'missing-tensor', (error) => assert.equal(error.tensor, 'ghost'));

  const notInIndex = await build();
  const { c: _dropped, ...withoutC } = (await indexOf(notInIndex)).weight_map;
  await rewrite(notInIndex, withoutC);
  await assertRefused(notInIndex, 'index', (error) => assert.match(error.message, /model-00002-of-00002\.safetensors/));

  const extraTensor = await build();
  await writeCheckpoint(join(extraTensor, 'extra'), [tensor('c', [3]), tensor('d', [4])]);
  await copyFile(join(extraTensor, 'extra', 'model.safetensors'), join(extraTensor, 'model-00002-of-00002.safetensors'));
  await assertRefused(extraTensor, 'index', (error) => assert.equal(error.tensor, 'd'));

  const wrongShard = await build();
  await rewrite(wrongShard, { ...(await indexOf(wrongShard)).weight_map, a: 'model-00002-of-00002.safetensors' });
  await assertRefused(wrongShard, 'index', (error) => assert.equal(error.tensor, 'a'));

  const twice = await build();
  const duplicate = await scratch();
  await writeCheckpoint(duplicate, [tensor('a', [9]), tensor('c', [3])]);
  await copyFile(join(duplicate, 'model.safetensors'), join(twice, 'model-00002-of-00002.safetensors'));
  await assertRefused(twice, 'duplicate-tensor', (error) => assert.equal(error.tensor, 'a'));

  const duplicateKey = await build();
  await writeFile(join(duplicateKey, 'model.safetensors.index.json'),
    '{"weight_map":{"a":"model-00001-of-00002.safetensors","a":"model-00002-of-00002.safetensors"}}');
  await assertRefused(duplicateKey, 'duplicate-key');

  const emptyIndex = await build();
  await writeFile(join(emptyIndex, 'model.safetensors.index.json'), encodeIndex([], 0));
  await assertRefused(emptyIndex, 'no-weights');
});

test('config.json and generation_config.json are read strictly', async () => {
  const folder = await scratch();
  await writeCheckpoint(folder, [tensor('w', [1])], {
    sideFiles: { 'generation_config.json': '{"do_sample":true}', 'tokenizer.model': 'x', 'chat_template.jinja': '{{ x }}', 'notes.txt': '' },
  });
  const checkpoint = await openCheckpoint(folder);
  assert.deepEqual(checkpoint.generationConfig, { do_sample: true });
  assert.deepEqual(checkpoint.sideFiles, ['tokenizer.model', 'generation_config.json', 'chat_template.jinja']);
  await writeFile(join(folder, 'config.json'), '{"vocab_size":32000,"vocab_size":32001}');
  await assertRefused(folder, 'duplicate-key', (error) => assert.equal(error.file, join(folder, 'config.json')));
  await writeFile(join(folder, 'config.json'), '[1]');
  await assertRefused(folder, 'invalid-json');
});

test('assertUnchanged notices a file rewritten or removed after opening', async () => {
  const folder = await scratch();
  await writeCheckpoint(folder, [tensor('w', [1, 2, 3])]);
  const checkpoint = await openCheckpoint(folder);
  const file = checkpoint.files[0];
  assert.ok(file);
  await assertUnchanged(file);
  const later = new Date(file.mtimeMs + 5_000);
  await utimes(file.path, later, later);
  await assert.rejects(assertUnchanged(file), (error: unknown) =>
    error instanceof SurgeonError && error.rule === 'input-changed' && error.file === file.path);
  const reopened = (await openCheckpoint(folder)).files[0];
  assert.ok(reopened);
  const handle = await open(reopened.path, 'a');
  await handle.write(new Uint8Array([0]));
  await handle.close();
  await utimes(reopened.path, later, later);
  await assert.rejects(assertUnchanged(reopened), (error: unknown) => error instanceof SurgeonError && error.rule === 'input-changed');
  await rm(reopened.path);
  await assert.rejects(assertUnchanged(reopened), (error: unknown) => error instanceof SurgeonError && error.rule === 'input-changed');
});
