/**
 * `lora`: a residual as a PEFT adapter. Small models whose instruct side is the base plus a delta of known rank, so
 * that the factors, the names, the config and what is left out can be checked against the truth.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { runCompute, runLora } from '../../../src/engine/jobs';
import { PlanRefusal } from '../../../src/engine/jobs/plan-error';
import type { LoraResult } from '../../../src/shared/jobs';
import { encodeFloat32, llamaLikeTensors, mulberry32, writeCheckpoint, type LlamaDtype, type TensorWithData } from '../../helpers/make-checkpoint';
import { readTensorValues } from '../../helpers/read-tensor';
import { scratchFolders } from '../../helpers/scratch-folders';
import { treeDigest } from '../../helpers/tree-digest';

const LAYERS = 2;
const HIDDEN = 24;
const VOCAB = 40;
const DELTA_RANK = 3;
const config = (vocab: number, dtype: LlamaDtype) => ({
  model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: HIDDEN, num_hidden_layers: LAYERS, num_attention_heads: 4, vocab_size: vocab,
  torch_dtype: dtype === 'BF16' ? 'bfloat16' : dtype === 'F16' ? 'float16' : 'float32', tie_word_embeddings: false,
});

/** The instruct side: every tensor of the base plus a delta, of rank DELTA_RANK for matrices, small noise for norms. */
function instructOf(base: readonly TensorWithData[], dtype: LlamaDtype, seed: number, vocab = VOCAB): TensorWithData[] {
  const random = mulberry32(seed);
  const gaussian = (): number => (random() + random() + random() - 1.5) * 2;
  return base.map((tensor) => {
    const values = decode(tensor);
    if (tensor.shape.length === 2) {
      const [rows, cols] = tensor.shape as [number, number];
      const grownRows = tensor.name.includes('embed') || tensor.name.startsWith('lm_head') ? vocab : rows;
      const u = Array.from({ length: grownRows * DELTA_RANK }, gaussian);
      const v = Array.from({ length: DELTA_RANK * cols }, gaussian);
      const grown = new Float32Array(grownRows * cols);
      grown.set(values.subarray(0, Math.min(values.length, grown.length)));
      for (let i = 0; i < grownRows; i++) {
        for (let j = 0; j < cols; j++) {
          let sum = 0;
          for (let k = 0; k < DELTA_RANK; k++) sum += u[i * DELTA_RANK + k]! * v[k * cols + j]! / (k + 1);
          grown[i * cols + j] = grown[i * cols + j]! + 0.01 * sum;
        }
      }
      return { name: tensor.name, dtype, shape: [grownRows, cols], data: encodeFloat32(grown, dtype) };
    }
    return { ...tensor, data: encodeFloat32(values.map((value) => value + 0.001 * gaussian()), dtype) };
  });
}

function decode(tensor: TensorWithData): Float32Array {
  if (tensor.dtype === 'F32') return new Float32Array(tensor.data.slice().buffer);
  const bits = new Uint16Array(tensor.data.slice().buffer);
  return Float32Array.from(bits, (bit) => new Float32Array(new Uint32Array([bit << 16]).buffer)[0]!);
}

const folder = scratchFolders('surgeon-lora-');
let models: { f32: { base: string; instruct: string }; bf16: { base: string; instruct: string }; grown: string };

before(async () => {
  const make = async (dtype: LlamaDtype): Promise<{ base: string; instruct: string }> => {
    const dir = await folder();
    const base = llamaLikeTensors({ layers: LAYERS, hidden: HIDDEN, vocab: VOCAB, dtype, tied: false, seed: 11 });
    await writeCheckpoint(join(dir, 'base'), base, { config: config(VOCAB, dtype) });
    await writeCheckpoint(join(dir, 'instruct'), instructOf(base, dtype, 12), { config: config(VOCAB, dtype) });
    return { base: join(dir, 'base'), instruct: join(dir, 'instruct') };
  };
  const f32 = await make('F32');
  const bf16 = await make('BF16');
  const grown = join(await folder(), 'instruct-grown');
  const base = llamaLikeTensors({ layers: LAYERS, hidden: HIDDEN, vocab: VOCAB, dtype: 'BF16', tied: false, seed: 11 });
  await writeCheckpoint(grown, instructOf(base, 'BF16', 13, VOCAB + 8), { config: config(VOCAB + 8, 'BF16') });
  models = { f32, bf16, grown };
});

/** B @ A of a module in f64, from the adapter as written. */
async function product(adapterDir: string, module: string): Promise<{ values: Float64Array; rows: number; cols: number; rank: number }> {
  const adapter = await openCheckpoint(join(adapterDir, 'adapter_model.safetensors'));
  const aRef = adapter.tensors.get(`base_model.model.${module}.lora_A.weight`)!;
  const bRef = adapter.tensors.get(`base_model.model.${module}.lora_B.weight`)!;
  const [rank, cols] = aRef.shape as [number, number];
  const [rows] = bRef.shape as [number];
  assert.equal(bRef.shape[1], rank, 'lora_B is [out, r]');
  const a = await readTensorValues(adapter, aRef.name);
  const b = await readTensorValues(adapter, bRef.name);
  const values = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let k = 0; k < rank; k++) for (let j = 0; j < cols; j++) values[i * cols + j] = values[i * cols + j]! + b[i * rank + k]! * a[k * cols + j]!;
  return { values, rows, cols, rank };
}

async function deltaOf(pair: { base: string; instruct: string }, tensor: string): Promise<number[]> {
  const [base, instruct] = await Promise.all([openCheckpoint(pair.base), openCheckpoint(pair.instruct)]);
  const [a, b] = await Promise.all([readTensorValues(base, tensor), readTensorValues(instruct, tensor)]);
  return b.map((value, index) => Math.fround(value - a[index]!));
}

function relativeError(truth: readonly number[], approximation: Float64Array): number {
  let error = 0;
  let norm = 0;
  truth.forEach((value, index) => {
    error += (value - approximation[index]!) ** 2;
    norm += value ** 2;
  });
  return Math.sqrt(error / norm);
}

test('an f32 delta of known rank is carried whole: PEFT names and shapes, the reconstruction to 1e-4, the error reported as measured', async () => {
  const out = join(await folder(), 'adapter');
  const result = await runLora({ ...models.f32, out, ranks: { rank: 8 }, dtype: 'f32' }) as LoraResult;
  assert.equal(result.kind, 'lora');
  assert.equal(result.dtype, 'F32');
  assert.deepEqual((await readdir(out)).sort(), ['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'provenance.json']);
  assert.equal(result.matrices.length, LAYERS * 7, 'q, k, v, o, gate, up, down of every layer');
  for (const matrix of result.matrices) {
    assert.equal(matrix.rank, 8);
    assert.ok(matrix.energy > 0.999999, `${matrix.module}: a rank-3 delta is all in 8 singular values`);
    const { values, rows, cols, rank } = await product(out, matrix.module);
    assert.deepEqual([rows, cols, rank], [...matrix.shape, 8]);
    const measured = relativeError(await deltaOf(models.f32, matrix.tensor), values);
    assert.ok(measured < 1e-4, `${matrix.module}: relative error ${measured}`);
    assert.ok(Math.abs(measured - matrix.relativeError) < 1e-6, `${matrix.module}: reported ${matrix.relativeError}, measured ${measured}`);
  }
  const reasons = new Map(result.leftOut.map((entry) => [entry.tensor, entry.reason]));
  assert.equal(reasons.get('model.embed_tokens.weight'), 'embedding');
  assert.equal(reasons.get('lm_head.weight'), 'embedding');
  assert.equal(reasons.get('model.layers.0.input_layernorm.weight'), 'not-a-matrix');
  assert.ok(result.leftOutEnergyShare > 0.05 && result.leftOutEnergyShare < 0.5, `embeddings and norms hold ${result.leftOutEnergyShare}`);
  assert.ok(Math.abs(result.capturedEnergyShare + result.leftOutEnergyShare - 1) < 1e-6, 'what is carried and what is left out make the whole');
  assert.ok(result.adapterBytes < result.fullResidualBytes);

  const adapterConfig = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
  assert.equal(adapterConfig.peft_type, 'LORA');
  assert.equal(adapterConfig.task_type, 'CAUSAL_LM');
  assert.equal(adapterConfig.r, 8);
  assert.equal(adapterConfig.lora_alpha, 8, 'scaling 1');
  assert.deepEqual(adapterConfig.target_modules, ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  assert.equal(adapterConfig.base_model_name_or_path, models.f32.base);
  assert.deepEqual(adapterConfig.rank_pattern, {});
  const adapter = await openCheckpoint(join(out, 'adapter_model.safetensors'));
  assert.deepEqual(adapter.files[0]!.header.metadata, { format: 'pt' });
  assert.equal(adapter.tensors.size, 2 * result.matrices.length);
  const card = await readFile(join(out, 'README.md'), 'utf8');
  assert.match(card, /^---\nbase_model: .*\nlibrary_name: peft\n/);
  assert.match(card, /PeftModel\.from_pretrained/);
  const provenance = JSON.parse(await readFile(join(out, 'provenance.json'), 'utf8'));
  assert.equal(provenance.operation, 'lora');
  assert.equal(provenance.base.files.length, 1);
});

test('the factors are in the models\' dtype by default, and --energy picks a rank per matrix with rank and alpha patterns', async () => {
  const out = join(await folder(), 'adapter');
  const result = await runLora({ ...models.bf16, out, ranks: { energy: 0.9, maxRank: 16 } }) as LoraResult;
  assert.equal(result.dtype, 'BF16');
  const adapter = await openCheckpoint(join(out, 'adapter_model.safetensors'));
  assert.ok([...adapter.tensors.values()].every((ref) => ref.dtype === 'BF16'));
  for (const matrix of result.matrices) {
    assert.ok(matrix.energy >= 0.9, `${matrix.module}: ${matrix.energy}`);
    assert.ok(matrix.rank <= 16);
    // The smallest such rank: one fewer singular value would fall short.
    const shorter = matrix.singularValues.slice(0, matrix.rank - 1).reduce((sum, value) => sum + value ** 2, 0) / matrix.squaredNorm;
    assert.ok(shorter < 0.9, `${matrix.module}: rank ${matrix.rank - 1} already captures ${shorter}`);
  }
  const adapterConfig = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
  for (const matrix of result.matrices) {
    const rank = adapterConfig.rank_pattern[matrix.module] ?? adapterConfig.r;
    assert.equal(rank, matrix.rank, matrix.module);
    assert.equal(adapterConfig.alpha_pattern[matrix.module] ?? adapterConfig.lora_alpha, rank, 'scaling 1 for every module');
  }
});

test('a compute residual folder gives the same adapter bytes as its base and instruct models', async () => {
  const dir = await folder();
  await runCompute({ ...models.bf16, out: join(dir, 'residual') });
  await runLora({ ...models.bf16, out: join(dir, 'from-pair'), ranks: { rank: 4 } });
  const fromResidual = await runLora({ residual: join(dir, 'residual'), out: join(dir, 'from-residual'), ranks: { rank: 4 } }) as LoraResult;
  assert.equal(fromResidual.dtype, 'BF16', 'the models\' dtype, from the base config the residual records, not the residual\'s f32');
  assert.deepEqual(await readFile(join(dir, 'from-residual', 'adapter_model.safetensors')), await readFile(join(dir, 'from-pair', 'adapter_model.safetensors')));
  const adapterConfig = JSON.parse(await readFile(join(dir, 'from-residual', 'adapter_config.json'), 'utf8'));
  assert.equal(adapterConfig.base_model_name_or_path, models.bf16.base, 'the base the residual records');
});

test('a model given as --residual, and vocabulary growth, are refused with nothing written; --force leaves the grown tensors out', async () => {
  const dir = await folder();
  const before = await treeDigest(dir);
  await assert.rejects(runLora({ residual: models.bf16.instruct, out: join(dir, 'adapter') }), (error: unknown) => {
    assert.ok(error instanceof PlanRefusal);
    assert.ok(error.issues.some((issue) => issue.rule === 'not-a-residual' && issue.severity === 'error'));
    return true;
  });
  await assert.rejects(runLora({ residual: join(models.bf16.instruct, 'model.safetensors'), out: join(dir, 'adapter') }), (error: unknown) => {
    assert.ok(error instanceof PlanRefusal);
    assert.match(error.issues.find((issue) => issue.rule === 'not-a-residual')?.message ?? '', /one \.safetensors file, without the config\.json .*name the residual's folder/);
    return true;
  });
  await assert.rejects(runLora({ base: models.bf16.base, instruct: models.grown, out: join(dir, 'adapter') }), (error: unknown) => {
    assert.ok(error instanceof PlanRefusal);
    const growth = error.issues.filter((issue) => issue.rule === 'vocabulary-growth');
    assert.deepEqual(growth.map((issue) => issue.tensor).sort(), ['lm_head.weight', 'model.embed_tokens.weight']);
    assert.match(growth[0]!.message, /cannot add token rows.*full residual/);
    return true;
  });
  assert.deepEqual(await treeDigest(dir), before);
  const forced = await runLora({ base: models.bf16.base, instruct: models.grown, out: join(dir, 'adapter'), force: true, ranks: { rank: 2 } }) as LoraResult;
  assert.deepEqual(forced.leftOut.filter((entry) => entry.reason === 'vocabulary-growth').map((entry) => entry.tensor).sort(), ['lm_head.weight', 'model.embed_tokens.weight']);
});

test('--embeddings lora factors the embeddings as PEFT\'s lora_embedding_A/B, (B @ A)ᵀ = ΔW, and the head as a linear module', async () => {
  const out = join(await folder(), 'adapter');
  const result = await runLora({ ...models.f32, out, ranks: { rank: 5 }, embeddings: 'lora', dtype: 'f32' }) as LoraResult;
  const embed = result.matrices.find((matrix) => matrix.tensor === 'model.embed_tokens.weight');
  assert.equal(embed?.kind, 'embedding');
  assert.equal(result.matrices.find((matrix) => matrix.tensor === 'lm_head.weight')?.kind, 'linear');
  const adapter = await openCheckpoint(join(out, 'adapter_model.safetensors'));
  const a = adapter.tensors.get('base_model.model.model.embed_tokens.lora_embedding_A')!;
  const b = adapter.tensors.get('base_model.model.model.embed_tokens.lora_embedding_B')!;
  assert.deepEqual([a.shape, b.shape], [[5, VOCAB], [HIDDEN, 5]]);
  const [aValues, bValues] = [await readTensorValues(adapter, a.name), await readTensorValues(adapter, b.name)];
  const transposedProduct = new Float64Array(VOCAB * HIDDEN);
  for (let token = 0; token < VOCAB; token++) {
    for (let d = 0; d < HIDDEN; d++) for (let k = 0; k < 5; k++) transposedProduct[token * HIDDEN + d] = transposedProduct[token * HIDDEN + d]! + bValues[d * 5 + k]! * aValues[k * VOCAB + token]!;
  }
  assert.ok(relativeError(await deltaOf(models.f32, 'model.embed_tokens.weight'), transposedProduct) < 1e-4);
  assert.deepEqual(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).target_modules.filter((name: string) => !name.endsWith('_proj')), ['embed_tokens', 'lm_head']);
});

test('a dry run names the adapter\'s files with the weights\' size, writes nothing, and --overwrite replaces an earlier adapter', async () => {
  const dir = await folder();
  const out = join(dir, 'adapter');
  const planned = await runLora({ ...models.bf16, out, ranks: { rank: 4 }, dryRun: true });
  assert.equal(planned.kind, 'dry-run');
  assert.equal(planned.operation, 'lora');
  await assert.rejects(stat(out));
  const written = await runLora({ ...models.bf16, out, ranks: { rank: 4 } }) as LoraResult;
  assert.deepEqual(planned.files.map((file) => file.file).sort(), written.files.map((file) => file.file).sort());
  assert.equal(planned.files.find((file) => file.file === 'adapter_model.safetensors')?.bytes, written.adapterBytes, 'with one rank the size is known');
  await assert.rejects(runLora({ ...models.bf16, out, ranks: { rank: 2 } }), /output-exists/);
  const replaced = await runLora({ ...models.bf16, out, ranks: { rank: 2 }, overwrite: true }) as LoraResult;
  assert.ok(replaced.matrices.every((matrix) => matrix.rank === 2));
  assert.deepEqual((await readdir(dir)).sort(), ['adapter']);
});
