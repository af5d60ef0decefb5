/** Export as LoRA Adapter's prompts and arguments: the rank choices, the custom rank's check, the inputs of a report. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandArgumentError, parseLoraArgs } from '../../../src/extension/command-args';
import { reportLoraInputs } from '../../../src/extension/lora-inputs';
import { customRankProblem, describeRanks, loraFolderName, rankChoiceItems } from '../../../src/extension/lora-rank-choices';

test('the rank prompt: one rank for all (64 first), by energy capped at 128, or a custom rank', () => {
  const items = rankChoiceItems();
  assert.deepEqual(items.map((item) => item.label), [
    'Rank 8', 'Rank 16', 'Rank 32', 'Rank 64', 'Rank 128', 'Rank 256', 'By energy: 90%', 'By energy: 95%', 'By energy: 99%', 'Custom rank...',
  ]);
  assert.deepEqual(items.filter((item) => item.isDefault).map((item) => item.ranks), [{ rank: 64 }]);
  assert.deepEqual(items[7]!.ranks, { energy: 0.95, maxRank: 128 });
  assert.equal(items.at(-1)!.ranks, 'custom');
});

test('a custom rank is a whole number from 1 to 4096, checked as it is typed', () => {
  for (const good of ['1', '16', ' 4096 ']) assert.equal(customRankProblem(good), undefined, good);
  assert.match(customRankProblem('')!, /Enter a rank from 1 to 4096/);
  assert.match(customRankProblem('12.5')!, /not a whole number/);
  assert.match(customRankProblem('-3')!, /not a whole number/);
  assert.match(customRankProblem('0')!, /from 1 to 4096, not 0/);
  assert.match(customRankProblem('5000')!, /from 1 to 4096, not 5000/);
});

test('the ranks in words and the suggested output folder', () => {
  assert.equal(describeRanks({ rank: 16 }), 'rank 16');
  assert.equal(describeRanks({ energy: 0.95, maxRank: 128 }), '95% of each matrix\'s energy, rank at most 128');
  assert.equal(loraFolderName('instruct-residual', { rank: 16 }), 'instruct-residual-lora-r16');
  assert.equal(loraFolderName('instruct-residual', { energy: 0.99, maxRank: 128 }), 'instruct-residual-lora-e99');
});

test('a report\'s inputs: its residual, a residual compared alone, or its two checkpoints as base and instruct', () => {
  const pair = { a: { path: '/m/base' }, b: { path: '/m/instruct' } };
  assert.deepEqual(reportLoraInputs(pair, '/m/residual'), { residual: '/m/residual' });
  assert.deepEqual(reportLoraInputs(pair, undefined), { base: '/m/base', instruct: '/m/instruct' });
  assert.deepEqual(reportLoraInputs({ a: { path: '/m/residual' }, residualOnly: true }, undefined), { residual: '/m/residual' });
  assert.equal(reportLoraInputs({ a: { path: '/m/model' } }, undefined), undefined, 'a model alone');
  assert.equal(reportLoraInputs(undefined, undefined), undefined);
});

test('the command\'s arguments: a residual or base and instruct, a rank or an energy, checked', () => {
  assert.deepEqual(parseLoraArgs(undefined), {});
  assert.deepEqual(parseLoraArgs({ residual: '/r', rank: 16, out: '/o' }), { residual: '/r', rank: 16, out: '/o' });
  assert.deepEqual(parseLoraArgs({ base: '/b', instruct: '/i', energy: 0.9 }), { base: '/b', instruct: '/i', energy: 0.9 });
  assert.deepEqual(parseLoraArgs({ scheme: 'file', fsPath: '/r', path: '/r' }), { residual: '/r' }, 'the Explorer\'s Uri is the residual');
  const refuses = (raw: unknown, pattern: RegExp): void => {
    assert.throws(() => parseLoraArgs(raw), (error: unknown) => error instanceof CommandArgumentError && pattern.test(error.message));
  };
  refuses({ residual: '/r', base: '/b' }, /"residual" alone, or "base" and "instruct"/);
  refuses({ rank: 16, energy: 0.9 }, /"rank".*or "energy".*not both/);
  refuses({ rank: 0 }, /whole number from 1 to 4096, not 0/);
  refuses({ rank: 8.5 }, /whole number from 1 to 4096/);
  refuses({ energy: 1.5 }, /above 0 and at most 1/);
  refuses({ energy: 0 }, /above 0 and at most 1/);
  refuses({ rank: '16' }, /"rank" must be a finite number/);
  refuses({ dtype: 'f32' }, /no option "dtype"/);
});
