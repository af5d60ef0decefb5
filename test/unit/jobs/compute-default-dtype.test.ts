import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeResult } from '../../../src/cli/describe-result';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { SurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute, runVerify } from '../../../src/engine/jobs';
import { residualDtypeReason } from '../../../src/engine/jobs/requested-dtype';
import { DEFAULT_RESIDUAL_DTYPE, RESIDUAL_DTYPES, type OutputDtype } from '../../../src/shared/jobs';
import { llamaLikeTensors, writeCheckpoint, type LlamaDtype } from '../../helpers/make-checkpoint';

const F32_REASON = 'auto: f32 is exact for the BF16 weights';
const F64_REASON = 'auto: f64, since the weights are F32 (a binary32 difference of binary32 values is not exact)';

/** The default residual dtype (auto) is exact per tensor: f32 for bf16/f16 weights, f64 for f32 weights. */
describe('compute\'s default residual dtype', () => {
  let root: string;
  const at = (name: string): string => join(root, name);
  const pair = async (dtype: LlamaDtype): Promise<void> => {
    for (const [side, seed] of [['base', 1], ['instruct', 2]] as const) {
      await writeCheckpoint(at(`${side}-${dtype}`), llamaLikeTensors({ layers: 1, hidden: 16, vocab: 24, dtype, tied: false, seed }));
    }
  };
  const dtypesOf = async (dir: string): Promise<string[]> => [...new Set([...(await openCheckpoint(dir)).tensors.values()].map((ref) => ref.dtype))];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-default-dtype-'));
    await pair('F32');
    await pair('BF16');
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('an F32 pair gets F64 tensors that verify 100% bit-identical, and the result, the text and provenance.json say why', async () => {
    const out = at('residual-F32');
    const result = await runCompute({ base: at('base-F32'), instruct: at('instruct-F32'), out });
    assert.equal(result.dtype, 'F64');
    assert.equal(result.dtypeReason, F64_REASON);
    assert.deepEqual(await dtypesOf(out), ['F64']);
    const provenance = JSON.parse(await readFile(join(out, 'provenance.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([provenance['dtype'], provenance['dtypeReason']], ['F64', F64_REASON]);
    assert.equal(describeResult(result).split('\n')[1], `  dtype: ${F64_REASON}`);
    const verdict = await runVerify({ base: at('base-F32'), residual: out, instruct: at('instruct-F32') });
    assert.equal(verdict.ok, true);
    assert.equal(verdict.identical, verdict.elements);
  });

  it('an explicit --dtype f32 on the F32 pair is taken as asked, said to be inexact, and does not verify', async () => {
    const out = at('residual-F32-as-f32');
    const result = await runCompute({ base: at('base-F32'), instruct: at('instruct-F32'), out, dtype: 'f32' });
    assert.equal(result.dtype, 'F32');
    assert.equal(result.dtypeReason, '--dtype f32 as asked: not exact, base + residual rounds twice');
    assert.equal((await runVerify({ base: at('base-F32'), residual: out, instruct: at('instruct-F32') })).ok, false);
  });

  it('a BF16 pair gets F32 tensors that verify, with the reason stated', async () => {
    const out = at('residual-BF16');
    const result = await runCompute({ base: at('base-BF16'), instruct: at('instruct-BF16'), out });
    assert.equal(result.dtype, 'F32');
    assert.equal(result.dtypeReason, F32_REASON);
    assert.deepEqual(await dtypesOf(out), ['F32']);
    const verdict = await runVerify({ base: at('base-BF16'), residual: out, instruct: at('instruct-BF16') });
    assert.equal(verdict.identical, verdict.elements);
    const explicit = await runCompute({ base: at('base-BF16'), instruct: at('instruct-BF16'), out: at('residual-BF16-as-bf16'), dtype: 'bf16' });
    assert.equal(explicit.dtypeReason, '--dtype bf16 as asked: not exact, base + residual rounds twice');
    const wide = await runCompute({ base: at('base-BF16'), instruct: at('instruct-BF16'), out: at('residual-BF16-as-f64'), dtype: 'f64' });
    assert.equal(wide.dtypeReason, '--dtype f64 as asked: exact for the BF16 weights');
  });

  it('a model of several dtypes: auto says which dtype each kind of weights got', () => {
    const tensors = [
      { base: 'BF16', instruct: 'BF16', residual: 'F32' },
      { base: 'F16', instruct: 'F32', residual: 'F64' },
      { base: 'F64', instruct: 'F64', residual: 'F64' },
    ] as const;
    assert.equal(residualDtypeReason('auto', tensors), 'auto: f32 is exact for the BF16 weights; '
      + 'f64 is exact for the F16 and F32 weights (a binary32 difference of binary32 values is not); '
      + 'f64, the widest, for the F64 weights (no residual dtype reproduces F64 weights to the bit)');
    assert.equal(residualDtypeReason('f64', tensors), '--dtype f64 as asked: exact for the BF16, F16 and F32 weights, not for the F64 weights (base + residual rounds twice)');
    assert.equal(residualDtypeReason('auto', []), 'auto: no float tensors, so every tensor keeps its dtype');
  });

  it('the extension setting offers the CLI\'s choices and default', async () => {
    const manifest = JSON.parse(await readFile(join(__dirname, '../../../package.json'), 'utf8')) as {
      contributes: { configuration: { properties: Record<string, { enum: string[]; default: string; enumDescriptions: string[] }> } };
    };
    const setting = manifest.contributes.configuration.properties['checkpointSurgeon.residualDtype']!;
    assert.deepEqual([...setting.enum].sort(), [...RESIDUAL_DTYPES].sort());
    assert.equal(setting.enumDescriptions.length, setting.enum.length);
    assert.equal(setting.default, DEFAULT_RESIDUAL_DTYPE);
  });

  it('apply has no auto: given one, it refuses as usage and writes nothing', async () => {
    const out = at('applied-auto');
    await assert.rejects(
      runApply({ base: at('base-BF16'), residual: at('residual-BF16'), out, dtype: 'auto' as OutputDtype }),
      (error: unknown) => error instanceof SurgeonError && error.rule === 'usage' && /"auto" is not one of same, f64, f32, bf16, f16/.test(error.message),
    );
    await assert.rejects(readFile(join(out, 'model.safetensors')));
  });
});
