/**
 * Apply's guards against writing a wrong model: a whole model taken for a residual, results that overflow,
 * patterns that select nothing, a tied target untied, a tokenizer mixed from two sources, a residual whose
 * config no longer matches its weights, and residual tensors the target lacks. Every refusal leaves every
 * file as it was and writes nothing.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { readTensorBytes } from '../../../src/engine/checkpoint/read-tensor-bytes';
import { isSurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute, runVerify } from '../../../src/engine/jobs';
import { llamaLikeTensors, makeTensor, writeCheckpoint, type TensorWithData } from '../../helpers/make-checkpoint';
import { readTensorValues } from '../../helpers/read-tensor';
import { runCli as cli } from '../../helpers/run-cli';
import { scratchFolders } from '../../helpers/scratch-folders';
import { treeDigest } from '../../helpers/tree-digest';

const newFolder = scratchFolders('surgeon-apply-guards-');
const CONFIG = { model_type: 'llama', hidden_size: 8, num_hidden_layers: 1, vocab_size: 16, tie_word_embeddings: false };
const TIED_CONFIG = { ...CONFIG, tie_word_embeddings: true };

interface Trio {
  root: string;
  base: string;
  instruct: string;
  residual: string;
}

/** base and instruct (llama-like, BF16) and the residual compute writes for them. */
async function trio(options: { tied?: boolean; instructSideFiles?: Record<string, string>; baseSideFiles?: Record<string, string> } = {}): Promise<Trio> {
  const root = await newFolder();
  const tied = options.tied === true;
  const config = tied ? TIED_CONFIG : CONFIG;
  const base = join(root, 'base');
  const instruct = join(root, 'instruct');
  const residual = join(root, 'residual');
  await writeCheckpoint(base, llamaLikeTensors({ layers: 1, hidden: 8, vocab: 16, dtype: 'BF16', tied, seed: 1 }), { config, sideFiles: options.baseSideFiles ?? {} });
  await writeCheckpoint(instruct, llamaLikeTensors({ layers: 1, hidden: 8, vocab: 16, dtype: 'BF16', tied, seed: 2 }), { config, sideFiles: options.instructSideFiles ?? {} });
  await runCompute({ base, instruct, out: residual });
  return { root, base, instruct, residual };
}

/** Runs `job`, which must be refused under `rule` with a message matching `text`, and leaves `root` as it was. */
async function assertRefusedUntouched(root: string, job: () => Promise<unknown>, rule: string, text: RegExp): Promise<void> {
  const before = await treeDigest(root);
  await assert.rejects(job(), (error: unknown) => {
    assert.ok(isSurgeonError(error), String(error));
    assert.match(error.message, new RegExp(`\\[${rule}\\]`));
    assert.match(error.message, text);
    return true;
  });
  assert.deepEqual(await treeDigest(root), before);
}

describe('apply refuses what would write a wrong model', () => {
  it('a whole model given as the residual is refused before the pass; --force applies it with a warning', async () => {
    const { root, base, instruct } = await trio();
    const out = join(root, 'out');
    await assertRefusedUntouched(root, () => runApply({ base, residual: instruct, out }), 'residual-is-model',
      /looks like a whole model.*norm is 0\.9\d+ times the target's.*--force/);
    const forced = await runApply({ base, residual: instruct, out, force: true });
    assert.ok(forced.issues.some((issue) => issue.rule === 'residual-is-model' && issue.severity === 'warning'));
  });

  it('a residual compute wrote passes the same test', async () => {
    const { root, base, residual } = await trio();
    const result = await runApply({ base, residual, out: join(root, 'out') });
    assert.ok(!result.issues.some((issue) => issue.rule === 'residual-is-model'));
  });

  it('a result that overflows to Inf from finite inputs is refused, naming the tensor, the element and the scale', async () => {
    const root = await newFolder();
    await writeCheckpoint(join(root, 'target'), [makeTensor('w.weight', [4, 8], 'BF16', () => 3e38)]);
    await writeCheckpoint(join(root, 'residual'), [makeTensor('w.weight', [4, 8], 'F32', () => 1)]);
    await assertRefusedUntouched(root, () => runApply({ base: join(root, 'target'), residual: join(root, 'residual'), out: join(root, 'out'), scale: 1e38 }),
      'non-finite-result', /target\/model\.safetensors, tensor "w\.weight": element 0 would be Infinity in BF16 \(\d\.\d+e\+38 \+ 1e\+38 \* 1\) although the inputs are finite/);
  });

  it('an output dtype that overflows is refused the same way (bf16 1e5 is Inf in f16)', async () => {
    const root = await newFolder();
    const big = (name: string): TensorWithData => makeTensor(name, [8, 8], 'BF16', () => 1e5);
    const small = (name: string): TensorWithData => makeTensor(name, [8, 8], 'BF16', () => 0.01);
    await writeCheckpoint(join(root, 'target'), [big('w.weight')]);
    await writeCheckpoint(join(root, 'residual'), [small('w.weight')]);
    await assertRefusedUntouched(root, () => runApply({ base: join(root, 'target'), residual: join(root, 'residual'), out: join(root, 'out'), dtype: 'f16' }),
      'non-finite-result', /target\/model\.safetensors, tensor "w\.weight": element 0 would be Infinity in F16/);
  });

  it('a scale beyond binary32 is a usage error before anything is opened', async () => {
    const { root, base, residual } = await trio();
    await assertRefusedUntouched(root, () => runApply({ base, residual, out: join(root, 'out'), scale: 1e40 }), 'usage', /finite binary32 number.*1e\+40/);
  });

  it('--include or --exclude that matches no tensor is refused', async () => {
    const { root, base, residual } = await trio();
    await assertRefusedUntouched(root, () => runApply({ base, residual, out: join(root, 'out'), include: 'self_atn' }), 'pattern-matches-nothing',
      /--include "self_atn" matches none of the residual's 12 tensors/);
    await assertRefusedUntouched(root, () => runApply({ base, residual, out: join(root, 'out'), exclude: 'nothing-like-this' }), 'pattern-matches-nothing',
      /--exclude "nothing-like-this" matches none/);
  });

  it('a residual tensor the target lacks is refused; --force skips it and lists it', async () => {
    const { root, base, residual } = await trio();
    const extra = join(root, 'residual-extra');
    const tensors = [...(await openCheckpoint(residual)).tensors.keys()];
    await writeCheckpoint(extra, [
      ...await Promise.all(tensors.map(async (name) => tensorOf(residual, name))),
      makeTensor('model.layers.0.self_attn.extra_proj.weight', [8, 8], 'F32', () => 0.5),
    ]);
    await assertRefusedUntouched(root, () => runApply({ base, residual: extra, out: join(root, 'out') }), 'missing-tensor',
      /"model\.layers\.0\.self_attn\.extra_proj\.weight" is in .* but not in .*use --force to skip it/);
    const forced = await runApply({ base, residual: extra, out: join(root, 'out'), force: true });
    assert.deepEqual(forced.skipped, ['model.layers.0.self_attn.extra_proj.weight']);
    assert.ok(!(await openCheckpoint(join(root, 'out'))).tensors.has('model.layers.0.self_attn.extra_proj.weight'));
  });
});

describe('a tied target stays tied', () => {
  /** A residual as the Python `residuals` package saves it for a tied model: lm_head.weight is the embedding's delta. */
  async function residualWithHead(t: Trio, head: 'same' | 'other'): Promise<string> {
    const folder = join(t.root, `residual-with-${head}-head`);
    const names = [...(await openCheckpoint(t.residual)).tensors.keys()];
    const tensors = await Promise.all(names.map(async (name) => tensorOf(t.residual, name)));
    const embedding = tensors.find((tensor) => tensor.name === 'model.embed_tokens.weight')!;
    const headData = head === 'same' ? embedding.data : makeTensor('lm_head.weight', embedding.shape, 'F32', () => 0.25).data;
    await writeCheckpoint(folder, [...tensors, { ...embedding, name: 'lm_head.weight', data: headData }]);
    return folder;
  }

  it('a head that is the embedding\'s delta is applied once, through the embedding: no lm_head, still tied', async () => {
    const t = await trio({ tied: true });
    const residual = await residualWithHead(t, 'same');
    for (const [label, extra] of [['plain', {}], ['--exclude lm_head', { exclude: 'lm_head' }]] as const) {
      const out = join(t.root, `out-${label.replace(/\W/g, '')}`);
      const result = await runApply({ base: t.base, residual, out, ...extra });
      assert.ok(result.issues.some((issue) => issue.rule === 'tied-embeddings' && /listed twice/.test(issue.message)), label);
      const written = await openCheckpoint(out);
      assert.equal(written.tensors.has('lm_head.weight'), false, label);
      assert.equal(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).tie_word_embeddings, true, label);
      // base + (instruct - base) = instruct, bit for bit, for the embedding the head is tied to.
      assert.deepEqual(await readTensorValues(written, 'model.embed_tokens.weight'), await readTensorValues(await openCheckpoint(t.instruct), 'model.embed_tokens.weight'), label);
    }
  });

  it('a head of its own is refused; --force applies only the embedding\'s delta and keeps the target tied', async () => {
    const t = await trio({ tied: true });
    const residual = await residualWithHead(t, 'other');
    await assertRefusedUntouched(t.root, () => runApply({ base: t.base, residual, out: join(t.root, 'out') }), 'tied-head-differs',
      /"lm_head\.weight" differs from the residual's "model\.embed_tokens\.weight", but the target ties them/);
    const out = join(t.root, 'out');
    await runApply({ base: t.base, residual, out, force: true });
    assert.equal((await openCheckpoint(out)).tensors.has('lm_head.weight'), false);
    assert.equal(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).tie_word_embeddings, true);
  });
});

describe('the output\'s side files', () => {
  it('the tokenizer comes as one set from the residual; generation_config.json from the target with a warning', async () => {
    const t = await trio({
      instructSideFiles: { 'tokenizer_config.json': '{"chat_template": "instruct"}\n', 'tokenizer.model': 'instruct sentencepiece' },
      baseSideFiles: { 'tokenizer.json': '{"model": "base"}\n', 'special_tokens_map.json': '{}\n', 'generation_config.json': '{"eos_token_id": 2}\n' },
    });
    // compute copies the instruct model's files; this residual has no generation config of its own.
    const out = join(t.root, 'out');
    const result = await runApply({ base: t.base, residual: t.residual, out });
    const files = (await readdir(out)).sort();
    assert.ok(files.includes('tokenizer_config.json') && files.includes('tokenizer.model'));
    assert.ok(!files.includes('tokenizer.json') && !files.includes('special_tokens_map.json'), files.join(', '));
    assert.equal(await readFile(join(out, 'tokenizer.model'), 'utf8'), 'instruct sentencepiece');
    assert.equal(await readFile(join(out, 'generation_config.json'), 'utf8'), '{"eos_token_id": 2}\n');
    assert.ok(result.issues.some((issue) => issue.rule === 'generation-config' && issue.severity === 'warning' && /eos_token_id/.test(issue.message)));
  });

  it('a residual without a tokenizer gets the target\'s whole set', async () => {
    const t = await trio({ baseSideFiles: { 'tokenizer.json': '{"model": "base"}\n', 'tokenizer_config.json': '{}\n' } });
    const out = join(t.root, 'out');
    await runApply({ base: t.base, residual: t.residual, out });
    const files = await readdir(out);
    assert.ok(files.includes('tokenizer.json') && files.includes('tokenizer_config.json'), files.join(', '));
  });
});

describe('a residual whose config.json no longer matches its weights', () => {
  it('is refused by apply and verify, naming the tensors the weights lack', async () => {
    const t = await trio();
    // A truncated upload: the weights lost a tensor, config.json (with its hashes) stayed.
    const names = [...(await openCheckpoint(t.residual)).tensors.keys()].filter((name) => name !== 'model.norm.weight');
    const truncated = join(t.root, 'truncated');
    await writeCheckpoint(truncated, await Promise.all(names.map((name) => tensorOf(t.residual, name))),
      { sideFiles: { 'config.json': await readFile(join(t.residual, 'config.json'), 'utf8') } });
    await assertRefusedUntouched(t.root, () => runApply({ base: t.base, residual: truncated, out: join(t.root, 'out') }), 'residual-config-mismatch',
      /parameter_names_hash does not match the 11 tensors the weights hold \(it lists 12 tensors\).*lack "model\.norm\.weight"/);
    await assertRefusedUntouched(t.root, () => runVerify({ base: t.base, residual: truncated, instruct: t.instruct }), 'residual-config-mismatch',
      /lack "model\.norm\.weight"/);
  });
});

describe('--json refusals', () => {
  it('print one error object on stdout besides the message on stderr', async () => {
    const t = await trio();
    const refused = await cli('apply', '--base', t.base, '--residual', t.instruct, '--out', join(t.root, 'out'), '--json');
    assert.equal(refused.code, 1, refused.stderr);
    const error = JSON.parse(refused.stdout) as { kind: string; rule: string; message: string; file: string; issues: Array<{ rule: string }> };
    assert.deepEqual([error.kind, error.rule, error.file], ['error', 'residual-is-model', t.instruct]);
    assert.ok(error.issues.some((issue) => issue.rule === 'residual-is-model'));
    assert.match(refused.stderr, /\[residual-is-model\]/);
    const usage = await cli('apply', '--base', t.base, '--json');
    assert.equal(usage.code, 2);
    assert.deepEqual(Object.keys(JSON.parse(usage.stdout) as object), ['kind', 'rule', 'message']);
  });
});

async function tensorOf(folder: string, name: string): Promise<TensorWithData> {
  const ref = (await openCheckpoint(folder)).tensors.get(name)!;
  return { name, dtype: ref.dtype, shape: ref.shape, data: await readTensorBytes(ref) };
}
