/**
 * apply --residual <PEFT adapter>: every merged element equals ΔW computed here in the order docs/lora.md defines
 * (and lies within a few binary32 roundings of the binary64 product), added as apply adds a binary32 residual; the
 * tensors the adapter does not change are byte-identical; the dry run lists the pairing; and every adapter a merge
 * cannot reproduce is refused before anything is written.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Checkpoint } from '../../../src/engine/checkpoint/checkpoint-types';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { readTensorBytes } from '../../../src/engine/checkpoint/read-tensor-bytes';
import { isSurgeonError } from '../../../src/engine/errors';
import { runApply } from '../../../src/engine/jobs/apply';
import type { ApplyResult } from '../../../src/shared/jobs';
import {
  f32BitsToBf16Bits, llamaLikeTensors, makeTensor, mulberry32, writeCheckpoint, type LlamaDtype, type TensorWithData,
} from '../../helpers/make-checkpoint';
import { writePeftAdapter, type PeftModule } from '../../helpers/make-peft-adapter';
import { readTensorValues } from '../../helpers/read-tensor';
import { scratchFolders } from '../../helpers/scratch-folders';
import { treeDigest } from '../../helpers/tree-digest';

const newFolder = scratchFolders('surgeon-apply-adapter-');
const HIDDEN = 8;
const VOCAB = 16;
const CONFIG = { model_type: 'llama', hidden_size: HIDDEN, intermediate_size: 2 * HIDDEN, num_hidden_layers: 1, vocab_size: VOCAB, tie_word_embeddings: false };
const Q = 'model.layers.0.self_attn.q_proj';
const V = 'model.layers.0.self_attn.v_proj';
const O = 'model.layers.0.self_attn.o_proj';
const UP = 'model.layers.0.mlp.up_proj';
const DOWN = 'model.layers.0.mlp.down_proj';
const EMBED = 'model.embed_tokens';

/** A small bf16 llama-like model. */
async function writeModel(root: string): Promise<string> {
  const dir = join(root, 'model');
  await writeCheckpoint(dir, llamaLikeTensors({ layers: 1, hidden: HIDDEN, vocab: VOCAB, dtype: 'BF16', tied: false, seed: 11 }), { config: CONFIG });
  return dir;
}

/** A factor of random values around ±0.5, stored in `dtype`. */
function factor(shape: [number, number], dtype: LlamaDtype, seed: number): Omit<TensorWithData, 'name'> {
  const random = mulberry32(seed);
  const { name: _name, ...tensor } = makeTensor('factor', shape, dtype, () => random() - 0.5);
  return tensor;
}

/** A linear module's factors for a target of [out, in] at `rank`. */
function linear(module: string, out: number, inputs: number, rank: number, dtype: LlamaDtype, seed: number): PeftModule {
  return { module, a: factor([rank, inputs], dtype, seed), b: factor([out, rank], dtype, seed + 1) };
}

/**
 * r 4 and lora_alpha 8 (scaling 2) for q_proj (F32 factors), v_proj (BF16) and the embedding (lora_embedding_A/B, F32);
 * down_proj at rank 2 with alpha 6 (scaling 3) through rank_pattern and alpha_pattern; lm_head saved whole (F32).
 */
async function writeMainAdapter(root: string): Promise<string> {
  return writePeftAdapter(join(root, 'adapter'), {
    config: { r: 4, lora_alpha: 8, rank_pattern: { down_proj: 2 }, alpha_pattern: { down_proj: 6 }, modules_to_save: ['lm_head'], target_modules: ['q_proj', 'v_proj', 'down_proj', 'embed_tokens'] },
    modules: [
      linear(Q, HIDDEN, HIDDEN, 4, 'F32', 100),
      linear(V, HIDDEN, HIDDEN, 4, 'BF16', 200),
      linear(DOWN, HIDDEN, 2 * HIDDEN, 2, 'BF16', 300),
      { module: EMBED, kind: 'embedding', a: factor([4, VOCAB], 'F32', 400), b: factor([HIDDEN, 4], 'F32', 401) },
    ],
    modelTensors: [makeTensor('lm_head.weight', [VOCAB, HIDDEN], 'F32', mulberryValues(500))],
  });
}

function mulberryValues(seed: number): () => number {
  const random = mulberry32(seed);
  return () => (random() - 0.5) * 0.3;
}

/**
 * ΔW of one module in the defined order, written independently of the engine: acc = +0, then for k ascending
 * acc = fl32(acc + fl32(B[i][k] · A[k][j])), then fl32(fl32(scaling) · acc); an embedding's ΔW is (B @ A)ᵀ. Also the
 * binary64 product and the bound on their difference (each of the r + 1 sums and the scaling rounds once).
 */
function referenceDelta(kind: 'linear' | 'embedding', a: number[], b: number[], rank: number, scaling: number): { delta: number[]; exact: number[]; bound: number[] } {
  const [rows, columns] = kind === 'linear' ? [b.length / rank, a.length / rank] : [a.length / rank, b.length / rank];
  const delta: number[] = [];
  const exact: number[] = [];
  const bound: number[] = [];
  const scaling32 = Math.fround(scaling);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < columns; j++) {
      // (B @ A)[p][q] with p = i, q = j for a linear module, p = j, q = i for an embedding.
      const [p, q] = kind === 'linear' ? [i, j] : [j, i];
      const qColumns = kind === 'linear' ? columns : rows;
      let acc = 0;
      let sum = 0;
      let magnitude = 0;
      for (let k = 0; k < rank; k++) {
        const term = b[p * rank + k]! * a[k * qColumns + q]!;
        acc = Math.fround(acc + Math.fround(term));
        sum += term;
        magnitude += Math.abs(term);
      }
      delta.push(Math.fround(scaling32 * acc));
      exact.push(scaling * sum);
      bound.push((rank + 2) * 2 ** -24 * Math.abs(scaling) * magnitude + 1e-30);
    }
  }
  return { delta, exact, bound };
}

/**
 * fl32(w + alpha · delta), narrowed to bf16 unless `f32`, for an alpha whose products are exact (1, 0.5): the one binary32
 * rounding of addScaled, then the one narrowing.
 */
function merged(w: number, alpha: number, delta: number, f32 = false): number {
  const sum = new Float32Array([w + alpha * delta]);
  if (f32) return sum[0]!;
  const bits = f32BitsToBf16Bits(new Uint32Array(sum.buffer)[0]!);
  return new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
}

async function factorValues(adapter: Checkpoint, module: string, kind: 'linear' | 'embedding' = 'linear'): Promise<{ a: number[]; b: number[] }> {
  const [a, b] = kind === 'linear' ? ['lora_A.weight', 'lora_B.weight'] : ['lora_embedding_A', 'lora_embedding_B'];
  return {
    a: await readTensorValues(adapter, `base_model.model.${module}.${a}`),
    b: await readTensorValues(adapter, `base_model.model.${module}.${b}`),
  };
}

/** Checks the merged tensor of `module` element by element against the reference. */
async function assertMerged(
  model: Checkpoint, output: Checkpoint, adapter: Checkpoint, module: string,
  options: { kind?: 'linear' | 'embedding'; rank: number; scaling: number; alpha: number; f32?: boolean },
): Promise<void> {
  const kind = options.kind ?? 'linear';
  const { a, b } = await factorValues(adapter, module, kind);
  const { delta, exact, bound } = referenceDelta(kind, a, b, options.rank, options.scaling);
  const w = await readTensorValues(model, `${module}.weight`);
  const values = await readTensorValues(output, `${module}.weight`);
  assert.equal(values.length, delta.length);
  delta.forEach((value, index) => assert.ok(Math.abs(value - exact[index]!) <= bound[index]!, `${module} ΔW[${index}] ${value} against ${exact[index]}`));
  assert.deepEqual(values, w.map((value, index) => merged(value, options.alpha, delta[index]!, options.f32)), `${module}.weight`);
}

async function assertBytesEqual(a: Checkpoint, b: Checkpoint, names: readonly string[]): Promise<void> {
  for (const name of names) {
    assert.deepEqual(await readTensorBytes(b.tensors.get(name)!), await readTensorBytes(a.tensors.get(name)!), name);
  }
}

/** Runs `job`, which must be refused with every rule of `rules` and every text of `texts` named, and leaves `root` as it was. */
async function assertRefusedUntouched(root: string, job: () => Promise<unknown>, rules: readonly string[], texts: readonly RegExp[] = []): Promise<void> {
  const before = await treeDigest(root);
  await assert.rejects(job(), (error: unknown) => {
    assert.ok(isSurgeonError(error), String(error));
    for (const rule of rules) assert.match(error.message, new RegExp(`\\[${rule}\\]`), `rule ${rule} in ${error.message}`);
    for (const text of texts) assert.match(error.message, text);
    return true;
  });
  assert.deepEqual(await treeDigest(root), before);
}

describe('apply --residual <PEFT LoRA adapter>', () => {
  it('merges every module in the defined order (F32 and BF16 factors, rank_pattern, an embedding), replaces the saved head, copies the rest', async () => {
    const root = await newFolder();
    const [modelDir, adapterDir] = [await writeModel(root), await writeMainAdapter(root)];
    const out = join(root, 'merged');
    const result = await runApply({ base: modelDir, residual: adapterDir, out });
    const [model, adapter, output] = await Promise.all([openCheckpoint(modelDir), openCheckpoint(adapterDir), openCheckpoint(out)]);

    await assertMerged(model, output, adapter, Q, { rank: 4, scaling: 2, alpha: 1 });
    await assertMerged(model, output, adapter, V, { rank: 4, scaling: 2, alpha: 1 });
    await assertMerged(model, output, adapter, DOWN, { rank: 2, scaling: 3, alpha: 1 });
    await assertMerged(model, output, adapter, EMBED, { kind: 'embedding', rank: 4, scaling: 2, alpha: 1 });
    const head = await readTensorValues(adapter, 'base_model.model.lm_head.weight');
    assert.deepEqual(await readTensorValues(output, 'lm_head.weight'), head.map((value) => merged(value, 0, 0)));
    assert.equal(output.tensors.get('lm_head.weight')!.dtype, 'BF16');

    const changed = [`${Q}.weight`, `${V}.weight`, `${DOWN}.weight`, `${EMBED}.weight`, 'lm_head.weight'];
    const untouched = [...model.tensors.keys()].filter((name) => !changed.includes(name));
    await assertBytesEqual(model, output, untouched);
    assert.deepEqual([...output.tensors.keys()].sort(), [...model.tensors.keys()].sort());
    assert.deepEqual(result.applied.slice().sort(), changed.slice().sort());
    assert.deepEqual(result.copiedUnchanged.slice().sort(), untouched.slice().sort());
    assert.deepEqual(result.lora, {
      modules: [
        { module: Q, tensor: `${Q}.weight`, kind: 'linear', rank: 4, scaling: 2 },
        { module: V, tensor: `${V}.weight`, kind: 'linear', rank: 4, scaling: 2 },
        { module: DOWN, tensor: `${DOWN}.weight`, kind: 'linear', rank: 2, scaling: 3 },
        { module: EMBED, tensor: `${EMBED}.weight`, kind: 'embedding', rank: 4, scaling: 2 },
      ].sort((x, y) => order(model, x.tensor) - order(model, y.tensor)),
      replaced: ['lm_head.weight'],
    });
    assert.ok(result.issues.some((issue) => issue.rule === 'lora-model-tensor' && issue.severity === 'warning' && /modules_to_save/.test(issue.message)));

    const provenance = JSON.parse(await readFile(join(out, 'provenance.json'), 'utf8')) as { formula: string; residual: { files: Array<{ file: string }> } };
    assert.equal(provenance.formula, 'M = C + α · scaling · (B @ A)');
    assert.deepEqual(provenance.residual.files.map((file) => file.file), ['adapter_model.safetensors', 'adapter_config.json']);
    assert.deepEqual(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')), CONFIG);
  });

  it('honours --scale 0.5 (α) and --include, leaving the saved head out of --scale', async () => {
    const root = await newFolder();
    const [modelDir, adapterDir] = [await writeModel(root), await writeMainAdapter(root)];
    const out = join(root, 'half');
    const result = await runApply({ base: modelDir, residual: adapterDir, out, scale: 0.5 });
    const [model, adapter, output] = await Promise.all([openCheckpoint(modelDir), openCheckpoint(adapterDir), openCheckpoint(out)]);
    await assertMerged(model, output, adapter, Q, { rank: 4, scaling: 2, alpha: 0.5 });
    await assertMerged(model, output, adapter, EMBED, { kind: 'embedding', rank: 4, scaling: 2, alpha: 0.5 });
    assert.ok(result.issues.some((issue) => issue.rule === 'lora-model-tensor' && /--scale 0\.5 does not apply/.test(issue.message)));

    const onlyQ = join(root, 'only-q');
    const selected = await runApply({ base: modelDir, residual: adapterDir, out: onlyQ, include: 'q_proj' });
    const onlyOutput = await openCheckpoint(onlyQ);
    assert.deepEqual(selected.applied, [`${Q}.weight`]);
    await assertMerged(model, onlyOutput, adapter, Q, { rank: 4, scaling: 2, alpha: 1 });
    await assertBytesEqual(model, onlyOutput, [...model.tensors.keys()].filter((name) => name !== `${Q}.weight`));
  });

  it('scales by lora_alpha / √r with use_rslora, also for a rank_pattern rank whose scaling is not a binary32 number; F16 factors; --dtype f32 shows every bit of ΔW', async () => {
    const root = await newFolder();
    const modelDir = await writeModel(root);
    const adapterDir = await writePeftAdapter(join(root, 'rslora'), {
      config: { r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { [O]: 3, [DOWN]: 29 } },
      modules: [linear(UP, 2 * HIDDEN, HIDDEN, 4, 'F16', 600), linear(O, HIDDEN, HIDDEN, 3, 'BF16', 700), linear(DOWN, HIDDEN, 2 * HIDDEN, 29, 'F32', 800)],
    });
    const out = join(root, 'merged');
    const result = await runApply({ base: modelDir, residual: adapterDir, out, dtype: 'f32' });
    const [model, adapter, output] = await Promise.all([openCheckpoint(modelDir), openCheckpoint(adapterDir), openCheckpoint(out)]);
    await assertMerged(model, output, adapter, UP, { rank: 4, scaling: 4, alpha: 1, f32: true });
    await assertMerged(model, output, adapter, O, { rank: 3, scaling: 8 / Math.sqrt(3), alpha: 1, f32: true });
    await assertMerged(model, output, adapter, DOWN, { rank: 29, scaling: 8 / Math.sqrt(29), alpha: 1, f32: true });
    assert.deepEqual(new Map(result.lora?.modules.map((module) => [module.module, [module.rank, module.scaling]])), new Map([[O, [3, 8 / Math.sqrt(3)]], [UP, [4, 4]], [DOWN, [29, 8 / Math.sqrt(29)]]]));
  });

  it('writes the same bytes on the WebAssembly and the plain-JS kernels, with one kernel thread or more', async () => {
    const root = await newFolder();
    const [modelDir, adapterDir] = [await writeModel(root), await writeMainAdapter(root)];
    const runs: Array<Record<string, string>> = [
      { CHECKPOINT_SURGEON_BACKEND: 'wasm', CHECKPOINT_SURGEON_KERNEL_THREADS: '1' },
      { CHECKPOINT_SURGEON_BACKEND: 'wasm', CHECKPOINT_SURGEON_KERNEL_THREADS: '2' },
      { CHECKPOINT_SURGEON_BACKEND: 'js' },
    ];
    const weights: Buffer[] = [];
    for (const [index, env] of runs.entries()) {
      const previous = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
      Object.assign(process.env, env);
      try {
        await runApply({ base: modelDir, residual: adapterDir, out: join(root, `out-${index}`), dtype: 'f32' });
      } finally {
        for (const [name, value] of Object.entries(previous)) if (value === undefined) delete process.env[name]; else process.env[name] = value;
      }
      weights.push(await readFile(join(root, `out-${index}`, 'model.safetensors')));
    }
    for (const other of weights.slice(1)) assert.ok(other.equals(weights[0]!));
  });

  it('the dry run lists what each module is merged into and writes nothing', async () => {
    const root = await newFolder();
    const [modelDir, adapterDir] = [await writeModel(root), await writeMainAdapter(root)];
    const before = await treeDigest(root);
    const result = await runApply({ base: modelDir, residual: adapterDir, out: join(root, 'merged'), dryRun: true });
    assert.equal(result.kind, 'dry-run');
    const notes = result.issues.filter((issue) => issue.rule === 'lora-module');
    assert.deepEqual(notes.map((issue) => issue.tensor).sort(), [`${DOWN}.weight`, `${EMBED}.weight`, `${Q}.weight`, `${V}.weight`].sort());
    assert.match(notes.find((issue) => issue.tensor === `${DOWN}.weight`)!.message,
      /\[8, 16\] \+= α · 3 · lora_B \[8, 2\] @ lora_A \[2, 16\] \(BF16 factors, rank 2, scaling 3 = lora_alpha 6 \/ r 2\)/);
    assert.match(notes.find((issue) => issue.tensor === `${EMBED}.weight`)!.message, /\(lora_embedding_B \[8, 4\] @ lora_embedding_A \[4, 16\]\)ᵀ/);
    assert.ok(result.files.some((file) => file.file === 'model.safetensors'));
    assert.deepEqual(await treeDigest(root), before);
  });

  it('refuses modules the target does not have, naming them all; --force skips them with a warning', async () => {
    const root = await newFolder();
    const modelDir = await writeModel(root);
    const adapterDir = await writePeftAdapter(join(root, 'other-model'), {
      config: { r: 4, lora_alpha: 8 },
      modules: [linear(Q, HIDDEN, HIDDEN, 4, 'BF16', 1), linear('model.layers.0.self_attn.qkv_proj', 3 * HIDDEN, HIDDEN, 4, 'BF16', 2), linear('model.layers.7.mlp.up_proj', 2 * HIDDEN, HIDDEN, 4, 'BF16', 3)],
    });
    const out = join(root, 'merged');
    await assertRefusedUntouched(root, () => runApply({ base: modelDir, residual: adapterDir, out }), ['lora-unknown-module'],
      [/2 problems/, /no "model\.layers\.0\.self_attn\.qkv_proj\.weight"/, /no "model\.layers\.7\.mlp\.up_proj\.weight"/, /use --force to skip it/]);
    const forced = await runApply({ base: modelDir, residual: adapterDir, out, force: true }) as ApplyResult;
    assert.deepEqual(forced.skipped, ['model.layers.0.self_attn.qkv_proj.weight', 'model.layers.7.mlp.up_proj.weight']);
    assert.deepEqual(forced.applied, [`${Q}.weight`]);
    assert.equal(forced.issues.filter((issue) => issue.rule === 'lora-unknown-module' && issue.severity === 'warning').length, 2);
  });

  it('refuses an adapter it cannot merge faithfully, every problem at once, before anything is written', async () => {
    const root = await newFolder();
    const modelDir = await writeModel(root);
    const adapterDir = await writePeftAdapter(join(root, 'broken'), {
      config: { r: 4, lora_alpha: 8, use_dora: true, fan_in_fan_out: true },
      modules: [
        // [8, 16] against q_proj's [8, 8].
        linear(Q, HIDDEN, 2 * HIDDEN, 4, 'BF16', 1),
        // Rank 2 where the config says 4.
        linear(V, HIDDEN, HIDDEN, 2, 'BF16', 2),
      ],
      rawTensors: [
        { ...factor([4, HIDDEN], 'BF16', 3), name: `base_model.model.${O}.lora_A.weight` },
        { ...factor([HIDDEN, 1], 'BF16', 4), name: `base_model.model.${O}.lora_magnitude_vector.weight` },
        { ...factor([4, HIDDEN], 'BF16', 5), name: `base_model.model.${UP}.lora_A.weight` },
        { name: `base_model.model.${UP}.lora_B.weight`, dtype: 'I32', shape: [2 * HIDDEN, 4], data: new Uint8Array(2 * HIDDEN * 4 * 4) },
        { ...factor([1, HIDDEN], 'BF16', 6), name: `base_model.model.${DOWN}.lora_B.bias` },
        { ...factor([1, HIDDEN], 'BF16', 7), name: 'model.norm.weight' },
      ],
    });
    await assertRefusedUntouched(root, () => runApply({ base: modelDir, residual: adapterDir, out: join(root, 'merged') }),
      ['lora-dora', 'lora-fan-in-fan-out', 'shape-mismatch', 'lora-rank', 'lora-missing-factor', 'lora-factor-dtype', 'lora-bias', 'lora-tensor-name'],
      [/lora_B \[8, 4\] @ lora_A \[4, 16\] is \[8, 16\], but the target's "model\.layers\.0\.self_attn\.q_proj\.weight" is \[8, 8\]/,
        /has this factor but not "base_model\.model\.model\.layers\.0\.self_attn\.o_proj\.lora_B\.weight"/,
        /rank 2 but adapter_config\.json gives module "model\.layers\.0\.self_attn\.v_proj" rank 4/,
        /"model\.norm\.weight": not a tensor of a PEFT adapter/]);
    await assertRefusedUntouched(root, () => runApply({ base: modelDir, residual: adapterDir, out: join(root, 'merged'), dryRun: true }), ['lora-dora']);
  });

  it('refuses another PEFT method, a config that is not strict JSON, and weights without their config', async () => {
    const root = await newFolder();
    const modelDir = await writeModel(root);
    const ia3 = await writePeftAdapter(join(root, 'ia3'), { config: { peft_type: 'IA3' }, modules: [linear(Q, HIDDEN, HIDDEN, 8, 'BF16', 1)] });
    await assertRefusedUntouched(root, () => runApply({ base: modelDir, residual: ia3, out: join(root, 'merged') }), ['peft-type'], [/peft_type is "IA3": only LoRA adapters/]);
    const duplicated = await writePeftAdapter(join(root, 'duplicated'), { config: { r: 4, lora_alpha: 8 }, modules: [linear(Q, HIDDEN, HIDDEN, 4, 'BF16', 1)] });
    const configPath = join(duplicated, 'adapter_config.json');
    await writeFile(configPath, '{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "lora_alpha": 16}');
    await assertRefusedUntouched(root, () => runApply({ base: modelDir, residual: duplicated, out: join(root, 'merged') }), ['duplicate-key'], [/adapter_config\.json/]);
    await rm(configPath);
    await assertRefusedUntouched(root, () => runApply({ base: modelDir, residual: duplicated, out: join(root, 'merged') }), ['adapter-config'],
      [/adapter_model\.safetensors has no adapter_config\.json beside it/]);
  });
});

/** A tensor's position in the model's order (the order the result lists merged modules in). */
function order(model: Checkpoint, name: string): number {
  return [...model.tensors.keys()].indexOf(name);
}
