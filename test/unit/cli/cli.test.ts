import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { runCli as cli, runCliWith } from '../../helpers/run-cli';

// In this process (offline); cli-process.slow.test.ts spawns the real one for its exit status and signals.
const REAL = resolve(__dirname, '../../fixtures/real/mistral-dna-tiny-mixtral-finetunes');

describe('the checkpoint-surgeon CLI', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-cli-'));
    const config = { model_type: 'llama', hidden_size: 8, num_hidden_layers: 1, vocab_size: 12, tie_word_embeddings: false };
    await writeCheckpoint(join(root, 'base'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed: 5 }), { config });
    await writeCheckpoint(join(root, 'instruct'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: false, seed: 6 }), { config });
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('compute --json prints one result object on stdout and exits 0; the default (auto) f32 residual of bf16 models verifies', async () => {
    const out = join(root, 'residual');
    const run = await cli('compute', '--base', join(root, 'base'), '--instruct', join(root, 'instruct'), '--out', out, '--json');
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { kind: string; out: string; dtype: string; dtypeReason: string; tensors: number };
    assert.deepEqual([result.kind, result.out, result.dtype, result.dtypeReason], ['compute', out, 'F32', 'auto: f32 is exact for the BF16 weights']);
    const verify = await cli('verify', '--base', join(root, 'base'), '--residual', out, '--instruct', join(root, 'instruct'));
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^OK: \d[\d,]* of \d[\d,]* elements bit-identical \(100\.0000%\)/);
  });

  it('compute --no-stats writes the same weights and a report without statistics', async () => {
    const withStats = join(root, 'residual-stats');
    const without = join(root, 'residual-no-stats');
    for (const [out, extra] of [[withStats, []], [without, ['--no-stats']]] as const) {
      const run = await cli('compute', '--base', join(root, 'base'), '--instruct', join(root, 'instruct'), '--out', out, ...extra);
      assert.equal(run.code, 0, run.stderr);
    }
    assert.ok((await readFile(join(without, 'model.safetensors'))).equals(await readFile(join(withStats, 'model.safetensors'))));
    type Report = { tensors: Array<{ name: string; deltaNorm?: number }> };
    const report = (dir: string): Promise<Report> => readFile(join(dir, 'diff-report.json'), 'utf8').then((text) => JSON.parse(text) as Report);
    assert.ok((await report(withStats)).tensors.every((tensor) => typeof tensor.deltaNorm === 'number'));
    assert.ok((await report(without)).tensors.every((tensor) => tensor.deltaNorm === undefined));
  });

  it('verify exits 1 with the report when the residual does not reproduce the instruct model', async () => {
    const out = join(root, 'residual-of-other');
    assert.equal((await cli('compute', '--base', join(root, 'instruct'), '--instruct', join(root, 'base'), '--out', out)).code, 0);
    const verify = await cli('verify', '--base', join(root, 'base'), '--residual', out, '--instruct', join(root, 'instruct'), '--json');
    assert.equal(verify.code, 1);
    const result = JSON.parse(verify.stdout) as { ok: boolean; identical: number; elements: number };
    assert.equal(result.ok, false);
    assert.ok(result.identical < result.elements);
  });

  it('verify of a residual in the models\' own dtype says which --dtype would verify to the bit, before the mismatching tensors', async () => {
    const out = join(root, 'residual-same');
    const compute = await cli('compute', '--base', join(root, 'base'), '--instruct', join(root, 'instruct'), '--out', out, '--dtype', 'same');
    assert.equal(compute.code, 0);
    assert.match(compute.stdout, /^ {2}dtype: --dtype same as asked: not exact, base \+ residual rounds twice$/m);
    const verify = await cli('verify', '--base', join(root, 'base'), '--residual', out, '--instruct', join(root, 'instruct'));
    assert.equal(verify.code, 1);
    const lines = verify.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^MISMATCH: /);
    // The explanation is read first, then the list it explains.
    assert.match(lines[1]!, /^ {2}warning: all \d+ mismatching tensors .*residual BF16, base BF16, instruct BF16\).*--dtype f32 verifies to the bit$/);
    assert.match(lines[2]!, /^ {2}identical +of +signed zero +max abs error +mismatching tensor$/);
    assert.ok(lines.length > 3);
    for (const line of lines.slice(3)) assert.match(line, /^ {2} *[\d,]+ +[\d,]+ +[\d,]+ +\S+ +[\w.]+$/);
  });

  it('a refusal exits 1 naming file, tensor and rule; nothing is written', async () => {
    const out = join(root, 'refused');
    const run = await cli('compute', '--base', join(REAL, 'Mistral-DNA-v1-1M-hg38-finetuned-tf0'), '--instruct', join(REAL, 'Mistral-Codon-v1-1M-finetuned-mRFP'), '--out', out);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /vocab_size shrinks from 4096 to 69/);
    assert.match(run.stderr, /\[incompatible-config\]/);
    assert.ok(!(await readdir(root)).some((name) => name.includes('refused')));
  });

  it('bad usage exits 2', async () => {
    const missing = await cli('compute', '--base', 'x');
    assert.equal(missing.code, 2);
    // commander's own message and help hint come through the CLI's stderr, and nothing reaches stdout.
    assert.match(missing.stderr, /error: required option '--instruct <checkpoint>' not specified/);
    assert.equal(missing.stdout, '');
    assert.equal((await cli('apply', '--base', 'a', '--residual', 'r', '--out', 'o', '--scale', 'much')).code, 2);
    assert.equal((await cli('compute', '--base', 'a', '--instruct', 'b', '--out', 'o', '--shard-size', '5XB')).code, 2);
    assert.equal((await cli('apply', '--base', 'a', '--residual', 'r', '--out', 'o', '--dtype', 'auto')).code, 2, 'auto is compute\'s alone');
  });

  it('draws its progress bar on stderr where that is a terminal, and nothing of it reaches stdout', async () => {
    const out = join(root, 'residual-with-bar');
    const run = await runCliWith({ terminalColumns: 160 }, 'compute', '--base', join(root, 'base'), '--instruct', join(root, 'instruct'), '--out', out, '--json');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /compute [█░]+ 100% \| [\d.]+ KB\/[\d.]+ KB \|/);
    assert.equal((JSON.parse(run.stdout) as { kind: string }).kind, 'compute');
  });

  it('a cancelled job exits 130 and writes nothing', async () => {
    const out = join(root, 'cancelled');
    const run = await runCliWith({ signal: AbortSignal.abort() }, 'compute', '--base', join(root, 'base'), '--instruct', join(root, 'instruct'), '--out', out, '--json');
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /cancelled/);
    assert.equal((JSON.parse(run.stdout) as { rule: string }).rule, 'cancelled');
    assert.ok(!(await readdir(root)).some((name) => name.includes('cancelled')));
  });

  it('diff of Codon against tf0 reports the embedding shape mismatch instead of throwing', async () => {
    const run = await cli('diff', join(REAL, 'Mistral-DNA-v1-1M-hg38-finetuned-tf0'), join(REAL, 'Mistral-Codon-v1-1M-finetuned-mRFP'), '--json');
    assert.equal(run.code, 0, run.stderr);
    const { report } = JSON.parse(run.stdout) as { report: { tensors: Array<{ name: string; status: string; a?: { shape: number[] }; b?: { shape: number[] } }> } };
    const embedding = report.tensors.find((tensor) => tensor.name === 'model.embed_tokens.weight')!;
    assert.equal(embedding.status, 'shape-mismatch');
    assert.deepEqual([embedding.a?.shape, embedding.b?.shape], [[4096, 64], [69, 64]]);
  });
});
