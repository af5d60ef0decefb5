/**
 * Inputs no job should do arithmetic on are refused before any tensor data is read, and nothing is
 * written: quantized checkpoints, files that are not safetensors, base = instruct, and base and
 * instruct given the wrong way round.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, open, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute, runDiff, runInspect, runVerify } from '../../../src/engine/jobs';
import { PlanRefusal } from '../../../src/engine/jobs/plan-error';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { QUANTIZED_LAYOUTS, methodFromTensors, plainConfig, quantizedTensors } from '../../helpers/quantized-checkpoints';
import { runCli as cli } from '../../helpers/run-cli';

let root: string;
const at = (...names: string[]): string => join(root, ...names);

/** Runs `job`, expects a refusal with `rule`, and checks that the folder holds what it held before. */
async function assertRefusedWritingNothing(job: () => Promise<unknown>, rule: string, out: string): Promise<SurgeonError> {
  const before = (await readdir(root)).sort();
  let refusal: SurgeonError | undefined;
  await assert.rejects(job(), (error: unknown) => {
    assert.ok(error instanceof SurgeonError, String(error));
    assert.equal(error.rule, rule, error.message);
    refusal = error;
    return true;
  });
  await assert.rejects(stat(out), 'the output folder does not exist');
  assert.deepEqual((await readdir(root)).sort(), before, 'nothing new next to the inputs');
  return refusal!;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'surgeon-refuse-inputs-'));
  await writeCheckpoint(at('base'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: true, seed: 1 }), { config: plainConfig() });
  await writeCheckpoint(at('instruct'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: true, seed: 2 }), { config: plainConfig() });
  for (const [index, layout] of QUANTIZED_LAYOUTS.entries()) {
    await writeCheckpoint(at(`quantized-${index}`), quantizedTensors(layout),
      { config: { ...plainConfig(), quantization_config: layout.quantizationConfig } });
    await writeCheckpoint(at(`quantized-${index}-tensors-only`), quantizedTensors(layout), { config: plainConfig() });
  }
});
after(async () => rm(root, { recursive: true, force: true }));

function isFp8Layout(layout: { method: string }): boolean {
  return layout.method === 'fp8' || layout.method === 'fbgemm_fp8';
}

describe('quantized checkpoints', () => {
  for (const [index, layout] of QUANTIZED_LAYOUTS.entries()) {
    // The FP8 layouts compute, apply, verify and diff read (docs/fp8.md) are below.
    if (isFp8Layout(layout)) continue;
    const quantized = (): string => at(`quantized-${index}`);
    const assertNamesMethod = (error: SurgeonError, method = layout.method): void => {
      assert.ok(error.message.includes(`quantized (${method})`), error.message);
      assert.match(error.message, /[Dd]equantize it/);
      assert.match(error.message, /\[quantized-checkpoint\]$/);
    };

    it(`${layout.label}: compute refuses it as base or instruct, by config or by tensors alone, in a dry run too`, async () => {
      const out = at('out');
      assertNamesMethod(await assertRefusedWritingNothing(() => runCompute({ base: at('base'), instruct: quantized(), out }), 'quantized-checkpoint', out));
      const asBase = await assertRefusedWritingNothing(() => runCompute({ base: quantized(), instruct: at('instruct'), out }), 'quantized-checkpoint', out);
      assertNamesMethod(asBase);
      assert.ok(asBase.message.includes(`config.json quantization_config.quant_method ${JSON.stringify(layout.method)}`), asBase.message);
      assert.equal(asBase.file, join(quantized(), 'config.json'));
      const byTensors = await assertRefusedWritingNothing(
        () => runCompute({ base: at('base'), instruct: at(`quantized-${index}-tensors-only`), out, dryRun: true }), 'quantized-checkpoint', out);
      assertNamesMethod(byTensors, methodFromTensors(layout));
      assert.match(byTensors.message, /tensor "model\.layers\.0\.self_attn\.q_proj\.[\w.]+" \(/);
    });

    it(`${layout.label}: apply, verify and diff refuse it; inspect describes it`, async () => {
      const out = at('out');
      assertNamesMethod(await assertRefusedWritingNothing(() => runApply({ base: at('base'), residual: quantized(), out }), 'quantized-checkpoint', out));
      assertNamesMethod(await assertRefusedWritingNothing(() => runApply({ base: quantized(), residual: at('instruct'), out, dryRun: true }), 'quantized-checkpoint', out));
      assertNamesMethod(await assertRefusedWritingNothing(
        () => runVerify({ base: at('base'), residual: quantized(), instruct: at('instruct') }), 'quantized-checkpoint', out));
      assertNamesMethod(await assertRefusedWritingNothing(() => runDiff({ a: at('base'), b: quantized() }), 'quantized-checkpoint', out));
      assertNamesMethod(await assertRefusedWritingNothing(() => runDiff({ a: quantized() }), 'quantized-checkpoint', out));

      const inspected = await runInspect({ path: quantized() });
      assert.deepEqual(
        inspected.tensors.map((tensor) => tensor.name).filter((name) => layout.projection.some((tensor) => tensor.name === name)).sort(),
        layout.projection.map((tensor) => tensor.name).sort());
    });
  }

  for (const [index, layout] of QUANTIZED_LAYOUTS.entries()) {
    if (!isFp8Layout(layout)) continue;
    const quantized = (): string => at(`quantized-${index}`);
    it(`${layout.label}: compute, apply, verify and diff read it (dequantized); a layout without its config is refused by name`, async () => {
      const out = at('out');
      const computed = await runCompute({ base: at('base'), instruct: quantized(), out, dryRun: true });
      assert.equal(computed.kind, 'dry-run');
      const applied = await runApply({ base: quantized(), residual: at('instruct'), out, dryRun: true, force: true });
      assert.equal(applied.kind, 'dry-run');
      const projection = layout.projection[0]!.name;
      const diffed = await runDiff({ a: at('base'), b: quantized() });
      assert.equal(diffed.report.quantization?.a, undefined);
      assert.equal(diffed.report.quantization?.b?.method, layout.method);
      assert.deepEqual(diffed.report.quantization?.b?.quantizedTensors, [projection]);
      assert.equal(diffed.report.tensors.some((tensor) => tensor.name.includes('weight_scale')), false);
      assert.equal(typeof diffed.report.tensors.find((tensor) => tensor.name === projection)?.deltaNorm, 'number');
      assert.deepEqual((await runDiff({ a: quantized() })).report.quantization?.a?.quantizedTensors, [projection]);
      const tensorsOnly = at(`quantized-${index}-tensors-only`);
      if (layout.method === 'fbgemm_fp8') {
        // Without config.json's section a `weight_scale` is no layout the jobs read: refused by name.
        await assertRefusedWritingNothing(() => runCompute({ base: at('base'), instruct: tensorsOnly, out, dryRun: true }), 'unknown-scale-layout', out);
        await assertRefusedWritingNothing(() => runDiff({ a: at('base'), b: tensorsOnly }), 'unknown-scale-layout', out);
      } else {
        assert.equal((await runCompute({ base: at('base'), instruct: tensorsOnly, out, dryRun: true })).kind, 'dry-run');
      }
      const inspected = await runInspect({ path: quantized() });
      assert.equal(inspected.quantization?.readable, true);
      assert.deepEqual(inspected.quantization?.tensors, [`${layout.projection[0]!.name}`]);
    });
  }

  it('the CLI exits 1 naming the file, the method and the rule', async () => {
    const quantized = at('quantized-0');
    const run = await cli('compute', '--base', at('base'), '--instruct', quantized, '--out', at('out'));
    assert.equal(run.code, 1);
    assert.ok(run.stderr.includes(join(quantized, 'config.json')), run.stderr);
    assert.match(run.stderr, /quantized \(bitsandbytes\)/);
    assert.match(run.stderr, /\[quantized-checkpoint\]/);
    await assert.rejects(stat(at('out')));
    const inspect = await cli('inspect', quantized, '--json');
    assert.equal(inspect.code, 0, inspect.stderr);
  });
});

describe('files that are not safetensors', () => {
  const cases = [
    { file: 'config.json', content: `${JSON.stringify(plainConfig(), null, 2)}\n`, looks: /JSON text, a model's config\.json/ },
    { file: 'params.json', content: '{"dim": 4096, "n_layers": 32}\n', looks: /JSON text \(it starts with "\{\\"dim\\": 4096/ },
    { file: 'empty.json', content: '{}', looks: /JSON text/ },
    { file: 'recipe.yaml', content: '# training recipe\nbase_model: meta-llama/Llama-3.1-8B\nlearning_rate: 2e-5\n', looks: /YAML text/ },
    { file: 'README.md', content: '# My model\n\nA fine-tune of Llama.\n', looks: /text \(it starts with "# My model"\)/ },
    { file: 'weights.safetensors', content: 'Entry not found\n', looks: /text \(it starts with "Entry not found"\)/ },
  ];
  for (const { file, content, looks } of cases) {
    it(`${file} passed as --base is "not a safetensors file", said to be what it is`, async () => {
      await mkdir(at('notes'), { recursive: true });
      const path = at('notes', file);
      await writeFile(path, content);
      const error = await assertRefusedWritingNothing(() => runCompute({ base: path, instruct: at('instruct'), out: at('out') }), 'not-safetensors', at('out'));
      assert.ok(error.message.startsWith(`${path}: not a safetensors file (one starts with an 8-byte header length, then a JSON header): it is `), error.message);
      assert.match(error.message, looks);
    });
  }

  it('the CLI exits 1 naming the file and the rule', async () => {
    const path = at('notes', 'config.json');
    const run = await cli('compute', '--base', path, '--instruct', at('instruct'), '--out', at('out'));
    assert.equal(run.code, 1);
    assert.ok(run.stderr.includes(`${path}: not a safetensors file`), run.stderr);
    assert.match(run.stderr, /: it is JSON text, a model's config\.json/);
    assert.match(run.stderr, /\[not-safetensors\]/);
    await assert.rejects(stat(at('out')));
  });

  it('a GGUF file is named as one; an LFS pointer keeps its own rule', async () => {
    await mkdir(at('notes'), { recursive: true });
    const gguf = at('notes', 'model.gguf');
    const header = Buffer.alloc(64);
    header.write('GGUF', 0, 'latin1');
    header.writeUInt32LE(3, 4);
    await writeFile(gguf, header);
    await assert.rejects(runInspect({ path: gguf }), (error: unknown) =>
      error instanceof SurgeonError && error.rule === 'not-safetensors' && /a GGUF file/.test(error.message));
    const pointer = at('notes', 'pointer.safetensors');
    await writeFile(pointer, 'version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 4945242264\n');
    await assert.rejects(runInspect({ path: pointer }), (error: unknown) => error instanceof SurgeonError && error.rule === 'lfs-pointer');
  });

  it('an index named as --base is still opened as the checkpoint it describes', async () => {
    const sharded = await writeCheckpoint(at('sharded'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: true, seed: 3 }),
      { config: plainConfig(), shardSize: 256 });
    assert.ok(sharded.indexPath);
    const planned = await runCompute({ base: sharded.indexPath, instruct: at('instruct'), out: at('out'), dryRun: true });
    assert.equal(planned.kind, 'dry-run');
  });
});

describe('base = instruct', () => {
  before(async () => {
    await symlink(at('base'), at('base-link'), 'dir');
    await cp(at('base'), at('base-copy'), { recursive: true });
  });

  for (const [label, instruct, says] of [
    ['the same path', (): string => at('base'), /base and instruct are the same files \(model\.safetensors\)/],
    ['a symbolic link to the folder', (): string => at('base-link'), /the same files/],
    ['the weights file inside the folder', (): string => at('base', 'model.safetensors'), /the same files/],
    ['a byte-identical copy', (): string => at('base-copy'), /a byte-identical copy of the base .* \(all \d+ tensors, \d+ bytes, compared\)/],
  ] as const) {
    it(`compute refuses ${label} as instruct, also in a dry run, and writes nothing`, async () => {
      const out = at('out');
      for (const dryRun of [false, true]) {
        const error = await assertRefusedWritingNothing(() => runCompute({ base: at('base'), instruct: instruct(), out, dryRun }), 'same-model', out);
        assert.match(error.message, says);
        assert.match(error.message, /check --base and --instruct/);
      }
    });
  }

  it('the CLI exits 1 with [same-model]', async () => {
    const run = await cli('compute', '--base', at('base'), '--instruct', at('base-copy'), '--out', at('out'));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /byte-identical copy/);
    assert.match(run.stderr, /\[same-model\]/);
    await assert.rejects(stat(at('out')));
  });

  it('a copy that differs in its last byte is a different model', async () => {
    await cp(at('base'), at('base-edited'), { recursive: true });
    const file = join(at('base-edited'), 'model.safetensors');
    const handle = await open(file, 'r+');
    try {
      const { size } = await handle.stat();
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      last[0] = (last[0]! + 1) & 0xff;
      await handle.write(last, 0, 1, size - 1);
    } finally {
      await handle.close();
    }
    const planned = await runCompute({ base: at('base'), instruct: at('base-edited'), out: at('out'), dryRun: true });
    assert.equal(planned.kind, 'dry-run');
  });
});

describe('base and instruct given the wrong way round', () => {
  before(async () => {
    await writeCheckpoint(at('grown'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 14, dtype: 'BF16', tied: true, seed: 4 }), { config: plainConfig(14) });
    const { vocab_size: _vocab, ...withoutVocabulary } = plainConfig();
    await writeCheckpoint(at('base-no-vocab'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: true, seed: 1 }), { config: withoutVocabulary });
    await writeCheckpoint(at('grown-no-vocab'), llamaLikeTensors({ layers: 1, hidden: 8, vocab: 14, dtype: 'BF16', tied: true, seed: 4 }), { config: withoutVocabulary });
  });

  for (const [label, base, instruct] of [
    ['with vocab_size in config.json', 'grown', 'base'],
    ['from the embedding rows alone', 'grown-no-vocab', 'base-no-vocab'],
  ] as const) {
    it(`compute says they look swapped, ${label}`, async () => {
      const out = at('out');
      const error = await assertRefusedWritingNothing(() => runCompute({ base: at(base), instruct: at(instruct), out }), 'shape-mismatch', out);
      assert.ok(error instanceof PlanRefusal);
      assert.match(error.message,
        /base and instruct look swapped: the instruct model has fewer rows than the base \(.*12.* 14.*\); check --base and --instruct/);
    });
  }

  it('with --force it is a warning; the right way round says nothing of it', async () => {
    const forced = await runCompute({ base: at('grown'), instruct: at('base'), out: at('out'), force: true, dryRun: true });
    assert.ok(forced.issues.some((issue) => issue.severity === 'warning' && /look swapped/.test(issue.message)));
    const right = await runCompute({ base: at('base'), instruct: at('grown'), out: at('out'), dryRun: true });
    assert.ok(!right.issues.some((issue) => /look swapped/.test(issue.message)));
  });

  it('the CLI exits 1 and says so', async () => {
    const run = await cli('compute', '--base', at('grown'), '--instruct', at('base'), '--out', at('out'));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /base and instruct look swapped/);
  });
});
