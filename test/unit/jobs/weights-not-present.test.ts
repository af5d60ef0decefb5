/**
 * Checkpoints without usable weights (issue 22): folders that hold configs and tokenizers while the weights
 * are Git LFS pointers, shards not downloaded, or nothing at all. diff and inspect say what they can; the
 * jobs that read weights refuse, naming every missing or pointer shard at once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute, runDiff, runInspect, runVerify } from '../../../src/engine/jobs';
import { describeResult } from '../../../src/cli/describe-result';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { runCli } from '../../helpers/run-cli';

const REAL = join(__dirname, '../../fixtures/real');
const MISTRAL = join(REAL, 'mistral-7b-v0.1-base-vs-instruct');
const MISTRAL_BASE = join(MISTRAL, 'Mistral-7B-v0.1');
const MISTRAL_INSTRUCT = join(MISTRAL, 'Mistral-7B-Instruct-v0.1');
const MIXTRAL = join(REAL, 'sharded-index-files/Mixtral-8x7B-v0.1');
const LFS_POINTER = 'version https://git-lfs.github.com/spec/v1\noid sha256:0123456789abcdef\nsize 4945242264\n';

const config = { model_type: 'llama', hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 4, vocab_size: 40 };
let root: string;
const at = (...names: string[]): string => join(root, ...names);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'surgeon-no-weights-'));
  const tensors = (seed: number) => llamaLikeTensors({ layers: 3, hidden: 16, vocab: 40, dtype: 'BF16', tied: false, seed });
  await writeCheckpoint(at('base'), tensors(1), { config });
  await writeCheckpoint(at('instruct'), tensors(2), { config });
  await writeFile(at('instruct', 'tokenizer_config.json'), JSON.stringify({ chat_template: '{{ messages }}', legacy: false }));
  // A half-fetched clone: of its shards, one is a Git LFS pointer and two were never downloaded.
  const broken = await writeCheckpoint(at('broken'), tensors(1), { config, shardSize: 2048 });
  assert.ok(broken.files.length >= 4, `enough shards (${broken.files.join(', ')})`);
  assert.match(broken.files[1]!, /^model-00002-of-\d{5}\.safetensors$/);
  await writeFile(at('broken', broken.files[1]!), LFS_POINTER);
  await rm(at('broken', broken.files.at(-1)!));
  await rm(at('broken', broken.files.at(-2)!));
});
after(async () => rm(root, { recursive: true, force: true }));

describe('diff without weights', () => {
  it('gives the real Mistral pair\'s tokenizer diff (chat template added, legacy flip, special tokens) and lists the weights as not present', async () => {
    const result = await runDiff({ a: MISTRAL_BASE, b: MISTRAL_INSTRUCT });
    const tokenizer = result.report.tokenizer;
    assert.ok(tokenizer);
    assert.deepEqual([tokenizer.chatTemplate.a, tokenizer.chatTemplate.b], [false, true]);
    assert.deepEqual(tokenizer.changes.find((change) => change.key === 'tokenizer_config.legacy'), { key: 'tokenizer_config.legacy', a: true, b: false });
    assert.ok(tokenizer.specialTokens.some((change) => change.key === 'special_tokens_map.bos_token'));
    assert.equal(result.report.config?.verdict, 'compatible');

    const warnings = (result.issues ?? []).filter((issue) => issue.severity === 'warning');
    assert.ok(warnings.some((issue) => /^A: 2 of 2 weight files are not present/.test(issue.message)
      && issue.message.includes('model-00001-of-00002.safetensors') && issue.message.includes('model-00002-of-00002.safetensors')), JSON.stringify(warnings));
    assert.ok(warnings.some((issue) => /^B holds no weights/.test(issue.message)));
    // The tensors A's index names, with no statistics: none were computed.
    assert.equal(result.report.tensors.length, 291);
    assert.ok(result.report.tensors.every((tensor) => tensor.status === 'only-in-a' && tensor.deltaNorm === undefined
      && /Git LFS pointer/.test(tensor.resolution ?? '')));
    assert.equal(result.report.summary.counts['only-in-a'], 291);
  });

  it('the CLI prints it and exits 0', async () => {
    const run = await runCli('diff', MISTRAL_BASE, MISTRAL_INSTRUCT);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /warning: A: 2 of 2 weight files are not present \(Git LFS pointers: model-00001-of-00002\.safetensors, model-00002-of-00002\.safetensors\)/);
    assert.match(run.stdout, /warning: B holds no weights/);
    assert.match(run.stdout, /chat template added/);
    assert.match(run.stdout, /legacy flipped: true -> false/);
    assert.match(run.stdout, /special_tokens_map\.eos_token/);
  });

  it('counts the missing shards of a half-fetched clone against a complete checkpoint, and computes no statistics', async () => {
    const result = await runDiff({ a: at('broken'), b: at('instruct') });
    const warning = (result.issues ?? []).find((issue) => issue.rule === 'weights-not-present');
    assert.ok(warning);
    assert.match(warning.message, /^A: 3 of \d+ weight files are not present \(Git LFS pointers: model-00002-of-\d+\.safetensors; not downloaded: model-\d+-of-\d+\.safetensors, model-\d+-of-\d+\.safetensors\)/);
    assert.ok(result.report.tensors.every((tensor) => tensor.deltaNorm === undefined));
    assert.ok(describeResult(result).includes('warning: no tensor statistics'));
  });
});

describe('inspect without weights', () => {
  it('summarises the real Mixtral index alone: tensors per shard, layers, experts, and every shard missing', async () => {
    const result = await runInspect({ path: MIXTRAL });
    assert.equal(result.tensors.length, 0);
    assert.ok(result.index);
    assert.equal(result.index.tensors, 995);
    assert.equal(result.index.shards.length, 19);
    assert.equal(result.index.shards.reduce((sum, shard) => sum + shard.tensors, 0), 995);
    assert.ok(result.index.shards.every((shard) => !shard.present));
    assert.equal(result.index.layers, 32);
    assert.equal(result.index.experts, 8);
    assert.equal(result.index.totalSize, 93405585408);
    assert.equal(result.missingWeights?.length, 19);
    assert.ok(result.missingWeights?.every((missing) => missing.reason === 'missing'));
    const text = describeResult(result);
    assert.match(text, /the index names 995 tensors in 19 shards/);
    assert.match(text, /32 layers, 8 experts per layer/);
    assert.match(text, /19 of 19 weight files not present \(19 not downloaded\)/);
    assert.match(text, /model-00019-of-00019\.safetensors\s+44\s+not downloaded/);
  });

  it('names Git LFS pointer shards as such, and a folder of configs alone', async () => {
    const base = await runInspect({ path: MISTRAL_BASE });
    assert.deepEqual(base.missingWeights?.map((missing) => [missing.file, missing.reason]),
      [['model-00001-of-00002.safetensors', 'lfs-pointer'], ['model-00002-of-00002.safetensors', 'lfs-pointer']]);
    assert.equal(base.index?.layers, 32);
    assert.equal(base.index?.experts, null);
    const instruct = await runInspect({ path: MISTRAL_INSTRUCT });
    assert.deepEqual(instruct.missingWeights?.map((missing) => missing.reason), ['no-weights']);
    assert.equal(instruct.tokenizer?.hasChatTemplate, true);
    const run = await runCli('inspect', MISTRAL_BASE);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /2 of 2 weight files not present \(2 Git LFS pointers\)/);
  });

  it('a half-fetched clone lists the tensors of the shards that are there, and the ones that are not', async () => {
    const result = await runInspect({ path: at('broken') });
    assert.ok(result.tensors.length > 0);
    assert.equal(result.missingWeights?.length, 3);
    assert.equal(result.index?.shards.filter((shard) => !shard.present).length, 3);
    assert.match(describeResult(result), /weights: 3 of \d+ weight files not present \(1 Git LFS pointer: model-00002-of-\d+\.safetensors; 2 not downloaded: /);
  });
});

describe('compute, apply and verify refuse, naming every missing shard at once', () => {
  const namesEveryShard = (error: unknown): boolean => {
    assert.ok(error instanceof SurgeonError);
    assert.equal(error.rule, 'lfs-pointer');
    assert.match(error.message, /3 of the \d+ shards the index names are not usable \(Git LFS pointers, not weights: model-00002-of-\d+\.safetensors; not in the folder: model-\d+-of-\d+\.safetensors, model-\d+-of-\d+\.safetensors\)/);
    assert.match(error.message, /git lfs pull/);
    return true;
  };

  it('compute, apply and verify', async () => {
    await assert.rejects(runCompute({ base: at('broken'), instruct: at('instruct'), out: at('residual') }), namesEveryShard);
    await assert.rejects(runCompute({ base: at('broken'), instruct: at('instruct'), out: at('residual'), dryRun: true }), namesEveryShard);
    await assert.rejects(runApply({ base: at('broken'), residual: at('instruct'), out: at('merged') }), namesEveryShard);
    await assert.rejects(runVerify({ base: at('base'), residual: at('broken'), instruct: at('instruct') }), namesEveryShard);
  });

  it('the real Mistral base: both pointer shards in one refusal', async () => {
    const run = await runCli('compute', '--base', MISTRAL_BASE, '--instruct', MISTRAL_INSTRUCT, '--out', at('mistral-residual'));
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /\[lfs-pointer\]/);
    assert.match(run.stderr, /model-00001-of-00002\.safetensors, model-00002-of-00002\.safetensors/);
  });
});

describe('--dry-run lists every file the job would write', () => {
  it('compute: the weights, config.json, the tokenizer files, provenance.json, diff-report.json and README.md', async () => {
    const planned = await runCompute({ base: at('base'), instruct: at('instruct'), out: at('residual'), dryRun: true });
    const names = planned.files.map((file) => file.file);
    for (const name of ['model.safetensors', 'config.json', 'tokenizer_config.json', 'provenance.json', 'diff-report.json', 'README.md']) {
      assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    }
    assert.equal(planned.files.find((file) => file.file === 'README.md')?.bytes, undefined, 'sizes of the files beside the weights are unknown');
    assert.ok((planned.files.find((file) => file.file === 'model.safetensors')?.bytes ?? 0) > 0);
    const text = describeResult(planned);
    assert.match(text, /README\.md/);
    assert.match(text, /provenance\.json/);
  });

  it('apply: config.json, the residual\'s tokenizer files, provenance.json and README.md', async () => {
    const planned = await runApply({ base: at('base'), residual: at('instruct'), out: at('merged'), dryRun: true, force: true });
    const names = planned.files.map((file) => file.file);
    for (const name of ['model.safetensors', 'config.json', 'tokenizer_config.json', 'provenance.json', 'README.md']) {
      assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    }
  });
});
