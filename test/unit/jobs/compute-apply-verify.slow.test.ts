import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { SurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute, runVerify } from '../../../src/engine/jobs';
import { PlanRefusal } from '../../../src/engine/jobs/plan-error';
import {
  f32BitsToBf16Bits, llamaLikeTensors, makeTensor, writeCheckpoint, type TensorWithData,
} from '../../helpers/make-checkpoint';
import { readTensorValues } from '../../helpers/read-tensor';

const LAYERS = 2;
const HIDDEN = 16;
const BASE_VOCAB = 40;
const INSTRUCT_VOCAB = 43;

function llamaConfig(vocab: number, tied: boolean): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: HIDDEN, num_hidden_layers: LAYERS,
    num_attention_heads: 4, num_key_value_heads: 4, intermediate_size: 2 * HIDDEN, vocab_size: vocab, tie_word_embeddings: tied,
  };
}

/** The instruct model: the base's tensors nudged, plus three added chat-token rows. */
function instructFrom(base: TensorWithData[], seed: number): TensorWithData[] {
  const grown = llamaLikeTensors({ layers: LAYERS, hidden: HIDDEN, vocab: INSTRUCT_VOCAB, dtype: 'BF16', tied: true, seed });
  return grown.map((tensor) => {
    const original = base.find((candidate) => candidate.name === tensor.name);
    if (!original || original.shape[0] !== tensor.shape[0]) return tensor;
    // Same shape: keep the base's values in part of the tensor so some elements are exactly unchanged.
    const data = new Uint8Array(tensor.data);
    data.set(original.data.subarray(0, Math.floor(original.data.length / 4) & ~1));
    return { ...tensor, data };
  });
}

describe('compute -> apply -> verify on generated Llama-like checkpoints', () => {
  let root: string;
  let baseDir: string;
  let instructDir: string;
  let base: TensorWithData[];
  let instruct: TensorWithData[];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-jobs-'));
    base = llamaLikeTensors({ layers: LAYERS, hidden: HIDDEN, vocab: BASE_VOCAB, dtype: 'BF16', tied: true, seed: 1 });
    instruct = instructFrom(base, 2);
    baseDir = join(root, 'base');
    instructDir = join(root, 'instruct');
    await writeCheckpoint(baseDir, base, { config: llamaConfig(BASE_VOCAB, true) });
    await writeCheckpoint(instructDir, instruct, {
      config: llamaConfig(INSTRUCT_VOCAB, true),
      shardSize: 4096,
      sideFiles: {
        'tokenizer_config.json': JSON.stringify({ added_tokens_decoder: {
          40: { content: '<|im_start|>', special: true }, 41: { content: '<|im_end|>', special: true }, 42: { content: '<tool>', special: true },
        }, chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}' }),
        'generation_config.json': JSON.stringify({ eos_token_id: [2, 41] }),
      },
    });
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('computes R = I - B in f32 narrowed to bf16 with round-to-nearest-even, growing the vocabulary with zero rows', async () => {
    const out = join(root, 'residual-bf16');
    const result = await runCompute({ base: baseDir, instruct: instructDir, out, dtype: 'same', shardSize: 2048 });
    assert.equal(result.dtype, 'BF16');
    assert.equal(result.tensors, instruct.length);
    const residual = await openCheckpoint(out);
    assert.equal(residual.layout, 'sharded', 'a 2048-byte shard size shards the residual');
    for (const tensor of instruct) {
      const baseTensor = base.find((candidate) => candidate.name === tensor.name)!;
      const r = await readTensorValues(residual, tensor.name);
      const bValues = bf16Values(baseTensor.data);
      const iValues = bf16Values(tensor.data);
      assert.deepEqual(residual.tensors.get(tensor.name)!.shape, tensor.shape);
      for (let index = 0; index < iValues.length; index++) {
        const baseValue = index < bValues.length ? bValues[index]! : 0;
        const expected = bf16Value(f32BitsToBf16Bits(f32Bits(Math.fround(iValues[index]! - baseValue))));
        assert.ok(Object.is(r[index], expected), `${tensor.name}[${index}]: ${r[index]} != ${expected}`);
      }
    }
    const growth = result.vocabularyGrowth.find((entry) => entry.tensor === 'model.embed_tokens.weight');
    assert.deepEqual(growth && { from: growth.fromRows, to: growth.toRows, tokens: growth.addedTokens.map((token) => token.content) },
      { from: BASE_VOCAB, to: INSTRUCT_VOCAB, tokens: ['<|im_start|>', '<|im_end|>', '<tool>'] });
    assert.ok(!residual.tensors.has('lm_head.weight'), 'tied embeddings: no lm_head is invented');
  });

  it('writes the residuals-package config, provenance hashes, tokenizer files and a model card', async () => {
    const out = join(root, 'residual-files');
    const result = await runCompute({ base: baseDir, instruct: instructDir, out });
    const files = (await readdir(out)).sort();
    for (const name of ['README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'provenance.json', 'tokenizer_config.json']) {
      assert.ok(files.includes(name), `${name} in ${files.join(', ')}`);
    }
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(config).sort(), ['base_model_name', 'base_model_relation', 'created_at', 'dtype', 'format', 'instruct_model_name',
      'library', 'param_count', 'parameter_names_hash', 'residuals_version', 'shapes_hash', 'tokenizer_name'].sort());
    assert.equal(result.dtype, 'F32', 'the default residual dtype (auto) is f32 for bf16 models: exact');
    assert.equal(config['dtype'], 'float32');
    assert.equal(config['param_count'], instruct.length);
    const names = instruct.map((tensor) => tensor.name).sort();
    assert.equal(config['parameter_names_hash'], createHash('sha256').update(names.join('|')).digest('hex'));

    for (const [side, dir] of [['base', baseDir], ['instruct', instructDir]] as const) {
      for (const entry of result.provenance[side]) {
        const expected = createHash('sha256').update(await readFile(join(dir, entry.file))).digest('hex');
        assert.equal(entry.sha256, expected, `${side} ${entry.file}`);
      }
    }
    const card = await readFile(join(out, 'README.md'), 'utf8');
    const front = parseYaml(card.split('---\n')[1]!) as Record<string, unknown>;
    assert.equal(front['base_model_relation'], 'adapter');
    // The base by its path from the card's folder, never an absolute (here temporary) one.
    assert.equal(front['base_model'], '../base');
  });

  it('round-trips exactly: base + f32 residual reproduces the instruct model to the bit', async () => {
    const out = join(root, 'residual-f32');
    await runCompute({ base: baseDir, instruct: instructDir, out, dtype: 'f32' });
    const verdict = await runVerify({ base: baseDir, residual: out, instruct: instructDir });
    assert.equal(verdict.ok, true);
    assert.equal(verdict.identical, verdict.elements);
    assert.equal(verdict.maxAbsError, 0);
    assert.equal(verdict.elements, instruct.reduce((sum, tensor) => sum + tensor.data.length / 2, 0));

    const applied = join(root, 'applied');
    const result = await runApply({ base: baseDir, residual: out, out: applied, shardSize: 3000 });
    assert.equal(result.applied.length, instruct.length);
    const model = await openCheckpoint(applied);
    for (const tensor of instruct) {
      assert.deepEqual(await readTensorValues(model, tensor.name), bf16Values(tensor.data), tensor.name);
    }
    const config = JSON.parse(await readFile(join(applied, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['vocab_size'], INSTRUCT_VOCAB, 'apply updates vocab_size to the grown embedding');
    const card = parseYaml((await readFile(join(applied, 'README.md'), 'utf8')).split('---\n')[1]!) as Record<string, unknown>;
    assert.equal(card['base_model_relation'], 'merge');
  });

  it('verify reports a bf16 residual honestly: not every element survives the narrowing, and it says why', async () => {
    const out = join(root, 'residual-lossy');
    await runCompute({ base: baseDir, instruct: instructDir, out, dtype: 'same' });
    const verdict = await runVerify({ base: baseDir, residual: out, instruct: instructDir });
    assert.equal(verdict.ok, false);
    assert.ok(verdict.identical > 0.5 * verdict.elements && verdict.maxAbsError > 0);
    const precision = verdict.issues.filter((issue) => issue.rule === 'inexact-residual');
    assert.equal(precision.length, 1);
    assert.equal(precision[0]!.severity, 'warning');
    const mismatched = verdict.tensors.filter((tensor) => tensor.identical !== tensor.elements);
    assert.equal(precision[0]!.tensor, mismatched[0]!.name);
    assert.match(precision[0]!.message, new RegExp(`^all ${mismatched.length} mismatching tensors .*residual BF16, base BF16, instruct BF16.*--dtype f32 verifies to the bit$`));
  });

  it('verify does not blame the residual\'s dtype for a residual of other models', async () => {
    const out = join(root, 'residual-reversed');
    await runCompute({ base: instructDir, instruct: baseDir, out, force: true });
    const verdict = await runVerify({ base: baseDir, residual: out, instruct: instructDir });
    assert.equal(verdict.ok, false);
    assert.deepEqual(verdict.issues.filter((issue) => issue.rule === 'inexact-residual'), []);
  });

  it('apply computes C + alpha * R with one rounding, copies what the residual lacks, and honours --exclude', async () => {
    const residualDir = join(root, 'residual-for-scale');
    await runCompute({ base: baseDir, instruct: instructDir, out: residualDir, dtype: 'f32' });
    const out = join(root, 'applied-half');
    const result = await runApply({ base: baseDir, residual: residualDir, out, scale: 0.5, exclude: 'norm' });
    assert.ok(result.copiedUnchanged.includes('model.norm.weight'));
    assert.ok(!result.applied.includes('model.norm.weight'));
    const model = await openCheckpoint(out);
    const residual = await openCheckpoint(residualDir);
    const name = 'model.layers.0.self_attn.q_proj.weight';
    const c = bf16Values(base.find((tensor) => tensor.name === name)!.data);
    const r = await readTensorValues(residual, name);
    const m = await readTensorValues(model, name);
    for (let index = 0; index < c.length; index++) {
      // 0.5 * r is exact in f32, so the fused multiply-add is one f32 addition, then one bf16 rounding.
      const expected = bf16Value(f32BitsToBf16Bits(f32Bits(Math.fround(c[index]! + 0.5 * r[index]!))));
      assert.ok(Object.is(m[index], expected), `[${index}] ${m[index]} != ${expected}`);
    }
    assert.deepEqual(await readTensorValues(model, 'model.norm.weight'), bf16Values(base.find((tensor) => tensor.name === 'model.norm.weight')!.data));
  });

  it('the WebAssembly and plain-JS kernels write the same residual bytes', async () => {
    const outputs: Buffer[] = [];
    for (const backend of ['wasm', 'js']) {
      process.env['CHECKPOINT_SURGEON_BACKEND'] = backend;
      const out = join(root, `residual-${backend}`);
      try {
        await runCompute({ base: baseDir, instruct: instructDir, out });
      } finally {
        delete process.env['CHECKPOINT_SURGEON_BACKEND'];
      }
      outputs.push(await readFile(join(out, 'model.safetensors')));
    }
    assert.ok(outputs[0]!.equals(outputs[1]!));
  });

  it('reading inputs around the page cache changes no byte of compute, apply or verify, nor any hash', async () => {
    const runs: Array<{ residual: Buffer; applied: Buffer; provenance: unknown; identical: number }> = [];
    for (const setting of ['always', 'off']) {
      process.env['CHECKPOINT_SURGEON_DIRECT_IO'] = setting;
      try {
        const residual = join(root, `residual-reads-${setting}`);
        // The sharded instruct model puts tensors at unaligned offsets and ends files mid-block; its vocabulary is grown.
        const computed = await runCompute({ base: baseDir, instruct: instructDir, out: residual, dtype: 'f32' });
        const verdict = await runVerify({ base: baseDir, residual, instruct: instructDir });
        const applied = join(root, `applied-reads-${setting}`);
        await runApply({ base: baseDir, residual, out: applied, scale: 0.75 });
        runs.push({
          residual: await readFile(join(residual, 'model.safetensors')),
          applied: await readFile(join(applied, 'model.safetensors')),
          provenance: computed.provenance,
          identical: verdict.identical,
        });
        assert.equal(verdict.identical, verdict.elements, setting);
      } finally {
        delete process.env['CHECKPOINT_SURGEON_DIRECT_IO'];
      }
    }
    assert.ok(runs[0]!.residual.equals(runs[1]!.residual), 'residual bytes');
    assert.ok(runs[0]!.applied.equals(runs[1]!.applied), 'applied model bytes');
    assert.deepEqual(runs[0]!.provenance, runs[1]!.provenance);
    assert.equal(runs[0]!.identical, runs[1]!.identical);
  });

  it('refuses, before reading any data, everything wrong at once and writes nothing', async () => {
    const otherDir = join(root, 'other-family');
    const other = llamaLikeTensors({ layers: LAYERS + 1, hidden: HIDDEN, vocab: BASE_VOCAB, dtype: 'BF16', tied: true, seed: 3 });
    await writeCheckpoint(otherDir, other.filter((tensor) => tensor.name !== 'model.norm.weight'),
      { config: { ...llamaConfig(BASE_VOCAB, true), model_type: 'mistral', num_hidden_layers: LAYERS + 1 } });
    const out = join(root, 'refused');
    await assert.rejects(runCompute({ base: baseDir, instruct: otherDir, out }), (error: unknown) => {
      assert.ok(error instanceof PlanRefusal);
      const rules = new Set(error.issues.filter((issue) => issue.severity === 'error').map((issue) => issue.rule));
      assert.deepEqual([...rules].sort(), ['incompatible-config', 'missing-tensor']);
      assert.match(error.message, /model_type differs/);
      assert.match(error.message, /model\.layers\.2\./);
      assert.match(error.message, /model\.norm\.weight/);
      return true;
    });
    assert.deepEqual((await readdir(root)).filter((name) => name.includes('refused')), []);
  });

  it('refuses an existing output folder unless --overwrite', async () => {
    const out = join(root, 'existing');
    await runCompute({ base: baseDir, instruct: instructDir, out });
    await assert.rejects(runCompute({ base: baseDir, instruct: instructDir, out }), (error: unknown) =>
      error instanceof SurgeonError && error.rule === 'output-exists');
    await runCompute({ base: baseDir, instruct: instructDir, out, overwrite: true, dtype: 'f32' });
    assert.equal((await openCheckpoint(out)).tensors.get('model.norm.weight')!.dtype, 'F32');
  });

  it('a cancelled job leaves no output and no temporary folder', async () => {
    const controller = new AbortController();
    const out = join(root, 'cancelled');
    let pieces = 0;
    await assert.rejects(runCompute({ base: baseDir, instruct: instructDir, out }, {
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.phase === 'stream' && ++pieces === 2) controller.abort();
      },
    }), (error: unknown) => error instanceof SurgeonError && error.rule === 'cancelled');
    assert.deepEqual((await readdir(root)).filter((name) => name.includes('cancelled')), []);
  });
});

describe('on the real tf0/tf1 Mixtral fine-tunes (F32)', () => {
  const real = join(__dirname, '../../fixtures/real/mistral-dna-tiny-mixtral-finetunes');
  const tf0 = join(real, 'Mistral-DNA-v1-1M-hg38-finetuned-tf0');
  const tf1 = join(real, 'Mistral-DNA-v1-1M-hg38-finetuned-tf1');
  let root: string;
  before(async () => { root = await mkdtemp(join(tmpdir(), 'surgeon-real-')); });
  after(async () => rm(root, { recursive: true, force: true }));

  it('an f32 residual of f32 checkpoints cannot reconstruct them exactly, and verify says so', async () => {
    // fl32(tf1 - tf0) loses bits wherever the two differ in sign or magnitude by more than 2x (Sterbenz);
    // no binary32 R brings fl32(tf0 + R) back to tf1 there. Verify reports it instead of hiding it.
    const out = join(root, 'residual-f32');
    await runCompute({ base: tf0, instruct: tf1, out, dtype: 'f32' });
    const verdict = await runVerify({ base: tf0, residual: out, instruct: tf1 });
    assert.equal(verdict.ok, false);
    assert.ok(verdict.identical > 0.8 * verdict.elements && verdict.identical < verdict.elements);
    assert.ok(verdict.maxAbsError > 0 && verdict.maxAbsError < 1e-6, String(verdict.maxAbsError));
    const [precision] = verdict.issues.filter((issue) => issue.rule === 'inexact-residual');
    assert.match(precision?.message ?? '', /residual F32, base F32, instruct F32.*--dtype f64 verifies to the bit$/);
  });

  it('compute then verify is 100% bit-identical with an f64 residual', async () => {
    const out = join(root, 'residual');
    const computed = await runCompute({ base: tf0, instruct: tf1, out, dtype: 'f64' });
    assert.ok(computed.report.summary.counts.changed > 0);
    const verdict = await runVerify({ base: tf0, residual: out, instruct: tf1 });
    assert.equal(verdict.ok, true, JSON.stringify(verdict.tensors.filter((tensor) => tensor.identical !== tensor.elements).slice(0, 3)));
    assert.equal(verdict.identical, verdict.elements);
    assert.ok(verdict.elements > 700_000);
  });
});

function f32Bits(value: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, true);
  return view.getUint32(0, true);
}

function bf16Value(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits << 16, true);
  return view.getFloat32(0, true);
}

function bf16Values(data: Uint8Array): number[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return Array.from({ length: data.byteLength / 2 }, (_, index) => bf16Value(view.getUint16(index * 2, true)));
}

export { makeTensor };
