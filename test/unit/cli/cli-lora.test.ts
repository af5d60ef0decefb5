/**
 * `checkpoint-surgeon lora` in this process: the flags as users type them (`--energy 90%`), the text summary with its
 * headed tables, `--json`, the dry run, and usage errors that name what is wrong.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { DryRunResult, ErrorResult, InspectResult, LoraResult } from '../../../src/shared/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { runCli as cli } from '../../helpers/run-cli';
import { scratchFolders } from '../../helpers/scratch-folders';

const newFolder = scratchFolders('surgeon-cli-lora-');
const config = { model_type: 'llama', hidden_size: 16, num_hidden_layers: 1, vocab_size: 20, tie_word_embeddings: false, torch_dtype: 'bfloat16' };
let base: string;
let instruct: string;

before(async () => {
  const root = await newFolder();
  base = join(root, 'base');
  instruct = join(root, 'instruct');
  await writeCheckpoint(base, llamaLikeTensors({ layers: 1, hidden: 16, vocab: 20, dtype: 'BF16', tied: false, seed: 1 }), { config });
  await writeCheckpoint(instruct, llamaLikeTensors({ layers: 1, hidden: 16, vocab: 20, dtype: 'BF16', tied: false, seed: 2 }), { config });
});

test('lora --json writes a PEFT adapter and says per matrix its rank, energy and error', async () => {
  const out = join(await newFolder(), 'adapter');
  const run = await cli('lora', '--base', base, '--instruct', instruct, '--out', out, '--rank', '4', '--spectra-backend', 'js', '--json');
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as LoraResult;
  assert.equal(result.kind, 'lora');
  assert.equal(result.matrices.length, 7);
  assert.ok(result.matrices.every((matrix) => matrix.rank === 4 && matrix.energy > 0 && matrix.energy < 1 && matrix.relativeError > 0));
  assert.deepEqual((await readdir(out)).sort(), ['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'provenance.json']);
  assert.deepEqual(result.files.map((file) => file.file).sort(), ['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'provenance.json']);

  // inspect names what the folder is: an adapter, its modules and ranks, and the base it is for.
  const inspected = await cli('inspect', out);
  assert.equal(inspected.code, 0, inspected.stderr);
  assert.match(inspected.stdout, new RegExp(`^${out}: a PEFT LoRA adapter \\(7 modules, rank 4\\) for ${base}, 14 tensors,`));
  const json = JSON.parse((await cli('inspect', out, '--json')).stdout) as InspectResult;
  assert.deepEqual(json.lora, { modules: 7, ranks: [4], savedTensors: 0, baseModel: base });
});

test('lora prints headed tables: what is left out, and the matrices worst first', async () => {
  const out = join(await newFolder(), 'adapter');
  const run = await cli('lora', '--base', base, '--instruct', instruct, '--out', out, '--energy', '90%', '--max-rank', '12', '--spectra-backend', 'js');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^LoRA adapter written to .* \(7 matrices, ranks? \d+( to \d+)?, BF16\)/);
  assert.match(run.stdout, /left out +tensors +energy\n/);
  assert.match(run.stdout, /embedding or head \(--embeddings lora factors them\) +2 +\d/);
  assert.match(run.stdout, /rank +energy +rel\. error +module\n/);
  const errors = [...run.stdout.matchAll(/^ +\d+ +[\d.]+% +([\d.e-]+) +model\./gm)].map((match) => Number(match[1]));
  assert.equal(errors.length, 7);
  assert.deepEqual(errors, [...errors].sort((x, y) => y - x), 'worst reconstructed first');
});

test('lora --dry-run lists the adapter files and writes nothing', async () => {
  const dir = await newFolder();
  const run = await cli('lora', '--base', base, '--instruct', instruct, '--out', join(dir, 'adapter'), '--dry-run', '--json');
  assert.equal(run.code, 0, run.stderr);
  const planned = JSON.parse(run.stdout) as DryRunResult;
  assert.equal(planned.operation, 'lora');
  assert.deepEqual(planned.files.map((file) => file.file), ['adapter_model.safetensors', 'adapter_config.json', 'provenance.json', 'README.md']);
  assert.deepEqual(await readdir(dir), []);
});

test('lora refuses contradictory or impossible flags as usage errors', async () => {
  const out = join(await newFolder(), 'adapter');
  const cases: Array<[string[], RegExp]> = [
    [['--rank', '8', '--energy', '0.9'], /cannot be used with option '--energy/],
    [['--energy', '150%'], /share above 0 and at most 1/],
    [['--rank', '0'], /--rank must be a whole number from 1 to 4096/],
    [['--residual', instruct], /--base and --instruct, or --residual alone/],
  ];
  for (const [flags, message] of cases) {
    const run = await cli('lora', '--base', base, '--instruct', instruct, '--out', out, ...flags, '--json');
    assert.equal(run.code, 2, `${flags.join(' ')}: ${run.stderr}`);
    assert.match((JSON.parse(run.stdout) as ErrorResult).message, message);
  }
  assert.equal((await cli('lora', '--instruct', instruct, '--out', out)).code, 2, 'an instruct model alone names no residual');
});
