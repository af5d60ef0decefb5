import assert from 'node:assert/strict';
import { formatCount } from '../../../src/shared/quantities';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeResult } from '../../../src/cli/describe-result';
import { runCompute, runVerify } from '../../../src/engine/jobs';
import { makeTensor, writeCheckpoint, type LlamaDtype, type TensorWithData } from '../../helpers/make-checkpoint';

const ZEROS = 'a.weight';
const SAME = 'b.weight';
const LENGTH = 64;

/** Base elements cycle through -0, +0 and two non-zero values. */
const baseValue = (index: number): number => [-0, 0, 1.5, 0.25][index % 4]!;

/**
 * ZEROS: the instruct model holds -0 in its first half, over every kind of base element, and base + 0.5
 * after; SAME: the base's tensor unchanged, with its -0 elements. Whatever the residual, base + residual
 * is +0 where the instruct model has -0 (x - x and zeros of opposite sign sum to +0).
 */
function models(dtype: LlamaDtype): { base: TensorWithData[]; instruct: TensorWithData[]; instructNegativeZeros: number } {
  const tensor = (name: string, value: (index: number) => number): TensorWithData => {
    let index = 0;
    return makeTensor(name, [LENGTH], dtype, () => value(index++));
  };
  const base = [tensor(ZEROS, baseValue), tensor(SAME, baseValue)];
  const instruct = [tensor(ZEROS, (index) => (index < LENGTH / 2 ? -0 : baseValue(index) + 0.5)), tensor(SAME, baseValue)];
  return { base, instruct, instructNegativeZeros: LENGTH / 2 + LENGTH / 4 };
}

describe('verify judges values: +0 and -0 are the same value', () => {
  let root: string;
  const at = (name: string): string => join(root, name);
  before(async () => { root = await mkdtemp(join(tmpdir(), 'surgeon-verify-values-')); });
  after(async () => rm(root, { recursive: true, force: true }));

  for (const dtype of ['BF16', 'F16', 'F32'] as const) {
    it(`${dtype} models with -0 elements: verify passes and counts the sign-of-zero differences apart, on both backends`, async () => {
      const { base, instruct, instructNegativeZeros } = models(dtype);
      await writeCheckpoint(at(`base-${dtype}`), base);
      await writeCheckpoint(at(`instruct-${dtype}`), instruct);
      const residual = at(`residual-${dtype}`);
      await runCompute({ base: at(`base-${dtype}`), instruct: at(`instruct-${dtype}`), out: residual });
      for (const backend of ['wasm', 'js']) {
        process.env['CHECKPOINT_SURGEON_BACKEND'] = backend;
        try {
          const verdict = await runVerify({ base: at(`base-${dtype}`), residual, instruct: at(`instruct-${dtype}`) });
          assert.equal(verdict.ok, true, backend);
          assert.equal(verdict.elements, 2 * LENGTH);
          assert.equal(verdict.signedZeroOnly, instructNegativeZeros, backend);
          assert.equal(verdict.identical, verdict.elements - instructNegativeZeros, backend);
          assert.equal(verdict.maxAbsError, 0);
          assert.deepEqual(verdict.tensors.map((tensor) => [tensor.name, tensor.signedZeroOnly]), [[ZEROS, LENGTH / 2], [SAME, LENGTH / 4]]);
          assert.deepEqual(verdict.issues.filter((issue) => issue.severity !== 'info'), []);
          const [note, ...more] = verdict.issues.filter((issue) => issue.rule === 'signed-zero');
          assert.equal(more.length, 0);
          assert.equal(note?.severity, 'info');
          assert.equal(note?.tensor, ZEROS);
          assert.match(note?.message ?? '', new RegExp(`^${instructNegativeZeros} elements differ from the instruct model only in the sign of zero \\(\\+0 against -0\\) in 2 tensors`));
          const text = describeResult(verdict).split('\n');
          assert.match(text[0]!, /^OK: /);
          assert.equal(text[1], `  ${instructNegativeZeros} more differ only in the sign of zero (+0 against -0): the same value, not a mismatch`);
          assert.equal(text.length, 2, 'no tensor is listed as mismatching');
        } finally {
          delete process.env['CHECKPOINT_SURGEON_BACKEND'];
        }
      }
    });
  }

  it('signed zeros beside a real mismatch: the mismatch fails verify, the signed zeros stay counted apart', async () => {
    const { base, instruct } = models('BF16');
    await writeCheckpoint(at('base-mixed'), base);
    await writeCheckpoint(at('instruct-mixed'), instruct);
    const residual = at('residual-mixed');
    await runCompute({ base: at('base-mixed'), instruct: at('instruct-mixed'), out: residual });
    // Another instruct model: SAME has one element changed (index 2: 1.5 -> 2), its -0 elements kept.
    let index = 0;
    const changed = instruct.map((tensor) => (tensor.name === SAME
      ? makeTensor(SAME, [LENGTH], 'BF16', () => (index++ === 2 ? 2 : baseValue(index - 1)))
      : tensor));
    await writeCheckpoint(at('instruct-changed'), changed);
    const verdict = await runVerify({ base: at('base-mixed'), residual, instruct: at('instruct-changed') });
    assert.equal(verdict.ok, false);
    assert.equal(verdict.maxAbsError, 0.5);
    const same = verdict.tensors.find((tensor) => tensor.name === SAME)!;
    assert.deepEqual([same.identical, same.signedZeroOnly], [LENGTH - LENGTH / 4 - 1, LENGTH / 4]);
    assert.equal(verdict.signedZeroOnly, LENGTH / 2 + LENGTH / 4);
    assert.equal(verdict.identical + verdict.signedZeroOnly, verdict.elements - 1);
    const lines = describeResult(verdict).split('\n');
    assert.match(lines[0]!, /^MISMATCH: /);
    assert.deepEqual(lines.filter((line) => line.endsWith(` ${ZEROS}`)), [], 'a tensor that differs only in signed zeros is not listed');
    const row = lines.filter((line) => line.endsWith(` ${SAME}`));
    assert.equal(row.length, 1);
    assert.deepEqual(row[0]!.trim().split(/ +/), [formatCount(LENGTH - LENGTH / 4 - 1), formatCount(LENGTH), formatCount(LENGTH / 4), '0.5', SAME]);
  });
});
