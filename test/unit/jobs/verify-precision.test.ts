import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCompute, runVerify } from '../../../src/engine/jobs';
import { llamaLikeTensors, makeTensor, writeCheckpoint, type TensorWithData } from '../../helpers/make-checkpoint';

const CHANGED = 'model.layers.0.self_attn.q_proj.weight';
const WRONG = 'model.layers.0.mlp.up_proj.weight';

function bf16Values(data: Uint8Array): Float32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const values = new Float32Array(data.byteLength / 2);
  const word = new Uint32Array(values.buffer);
  for (let index = 0; index < values.length; index++) word[index] = view.getUint16(index * 2, true) << 16;
  return values;
}

/** Verify's `inexact-residual` warning: which mismatches the residual's dtype explains, and the --dtype that would not miss. */
describe('verify explains the mismatches a narrow residual causes, and only those', () => {
  let root: string;
  let base: TensorWithData[];
  let instruct: TensorWithData[];
  const at = (name: string): string => join(root, name);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'surgeon-verify-precision-'));
    base = llamaLikeTensors({ layers: 1, hidden: 16, vocab: 12, dtype: 'BF16', tied: false, seed: 11 });
    const other = llamaLikeTensors({ layers: 1, hidden: 16, vocab: 12, dtype: 'BF16', tied: false, seed: 12 });
    // Only one tensor changes, so only it can mismatch.
    instruct = base.map((tensor) => (tensor.name === CHANGED ? other.find((candidate) => candidate.name === CHANGED)! : tensor));
    await writeCheckpoint(at('base'), base);
    await writeCheckpoint(at('instruct'), instruct);
  });
  after(async () => rm(root, { recursive: true, force: true }));

  it('one mismatching tensor with a bf16 residual: the warning names it and --dtype f32', async () => {
    await runCompute({ base: at('base'), instruct: at('instruct'), out: at('residual-same'), dtype: 'same' });
    const verdict = await runVerify({ base: at('base'), residual: at('residual-same'), instruct: at('instruct') });
    assert.deepEqual(verdict.tensors.filter((tensor) => tensor.identical !== tensor.elements).map((tensor) => tensor.name), [CHANGED]);
    const [warning, ...more] = verdict.issues.filter((issue) => issue.rule === 'inexact-residual');
    assert.equal(more.length, 0);
    assert.equal(warning?.tensor, CHANGED);
    assert.match(warning?.message ?? '', /^the one mismatching tensor has a residual too narrow to be exact \(first "model\.layers\.0\.self_attn\.q_proj\.weight": residual BF16, base BF16, instruct BF16\).*--dtype f32 verifies to the bit$/);
  });

  it('a wrong f32 residual beside a narrow one: only the narrow one is explained', async () => {
    const baseOf = (name: string): TensorWithData => base.find((tensor) => tensor.name === name)!;
    const changedBase = bf16Values(baseOf(CHANGED).data);
    const changedInstruct = bf16Values(instruct.find((tensor) => tensor.name === CHANGED)!.data);
    const residual = base.map((tensor): TensorWithData => {
      if (tensor.name === CHANGED) {
        let index = 0;
        return makeTensor(tensor.name, tensor.shape, 'BF16', () => { const value = changedInstruct[index]! - changedBase[index]!; index++; return value; });
      }
      // F32 residuals of bf16 weights are exact, so a mismatch here is the residual's fault: 1 where 0 was due.
      return makeTensor(tensor.name, tensor.shape, 'F32', () => (tensor.name === WRONG ? 1 : 0));
    });
    await writeCheckpoint(at('residual-mixed'), residual);
    const verdict = await runVerify({ base: at('base'), residual: at('residual-mixed'), instruct: at('instruct') });
    assert.deepEqual(verdict.tensors.filter((tensor) => tensor.identical !== tensor.elements).map((tensor) => tensor.name).sort(), [CHANGED, WRONG].sort());
    const warnings = verdict.issues.filter((issue) => issue.rule === 'inexact-residual');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.tensor, CHANGED);
    assert.match(warnings[0]!.message, /^1 of 2 mismatching tensors has a residual too narrow/);
  });
});
