/**
 * `--dry-run` of compute and apply: the plan's verdict and the exact files the job would write, with
 * nothing written.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute } from '../../../src/engine/jobs';
import { PlanRefusal } from '../../../src/engine/jobs/plan-error';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';

const config = (vocab: number) => ({ model_type: 'llama', hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: vocab });
let root: string;
const at = (name: string): string => join(root, name);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'surgeon-dry-run-'));
  await writeCheckpoint(at('base'), llamaLikeTensors({ layers: 2, hidden: 16, vocab: 40, dtype: 'BF16', tied: false, seed: 1 }), { config: config(40) });
  await writeCheckpoint(at('instruct'), llamaLikeTensors({ layers: 2, hidden: 16, vocab: 40, dtype: 'BF16', tied: false, seed: 2 }), { config: config(40) });
  await writeCheckpoint(at('other-family'), llamaLikeTensors({ layers: 3, hidden: 16, vocab: 40, dtype: 'BF16', tied: false, seed: 3 }),
    { config: { ...config(40), num_hidden_layers: 3 } });
});
after(async () => rm(root, { recursive: true, force: true }));

/** Every file in the folder, by name; the weights and their index with their sizes, as a dry run gives them. */
async function filesIn(dir: string): Promise<Array<{ file: string; bytes?: number }>> {
  const names = (await readdir(dir)).sort((x, y) => x.localeCompare(y));
  return Promise.all(names.map(async (file) => (file.endsWith('.safetensors') || file.endsWith('.index.json')
    ? { file, bytes: (await stat(join(dir, file))).size } : { file })));
}

const byName = <T extends { file: string }>(files: readonly T[]): T[] => [...files].sort((x, y) => x.file.localeCompare(y.file));

test('compute and apply dry runs name exactly the files the jobs then write, and write nothing', async () => {
  const planned = await runCompute({ base: at('base'), instruct: at('instruct'), out: at('residual'), shardSize: 4096, dryRun: true });
  assert.equal(planned.kind, 'dry-run');
  assert.ok(planned.files.length > 2, 'sharded: several shards and an index');
  await assert.rejects(stat(at('residual')), 'nothing written');
  assert.deepEqual((await readdir(root)).sort(), ['base', 'instruct', 'other-family']);

  const computed = await runCompute({ base: at('base'), instruct: at('instruct'), out: at('residual'), shardSize: 4096 });
  assert.deepEqual(byName(planned.files), await filesIn(at('residual')));
  assert.deepEqual([planned.tensors, planned.parameters], [computed.tensors, computed.parameters]);

  const plannedApply = await runApply({ base: at('base'), residual: at('residual'), out: at('merged'), dryRun: true });
  await assert.rejects(stat(at('merged')));
  await runApply({ base: at('base'), residual: at('residual'), out: at('merged') });
  assert.deepEqual(byName(plannedApply.files), await filesIn(at('merged')));
});

test('a dry run refuses what the job would refuse: another family, an existing output, an output over an input', async () => {
  await assert.rejects(runCompute({ base: at('base'), instruct: at('other-family'), out: at('nope'), dryRun: true }), (error: unknown) => {
    assert.ok(error instanceof PlanRefusal);
    const errors = error.issues.filter((issue) => issue.severity === 'error');
    assert.ok(errors.some((issue) => issue.rule === 'incompatible-config'));
    assert.ok(errors.some((issue) => issue.rule === 'missing-tensor'), 'layer 2 is only in the instruct model');
    // One line per problem, each naming its rule once; nothing names a rule after the list.
    const lines = error.message.split('\n').slice(1);
    assert.deepEqual(lines, errors.map((issue) => `  - ${issue.message} [${issue.rule}]`));
    assert.equal(error.report?.tensors.filter((tensor) => tensor.status === 'only-in-b').length, errors.filter((issue) => issue.rule !== 'incompatible-config').length);
    return true;
  });
  await mkdir(at('occupied'));
  await writeFile(join(at('occupied'), 'keep.txt'), 'mine');
  await assert.rejects(runCompute({ base: at('base'), instruct: at('instruct'), out: at('occupied'), dryRun: true }), (error: unknown) =>
    error instanceof SurgeonError && error.rule === 'output-exists');
  // --overwrite replaces only what compute or apply wrote, not a folder of the user's.
  await assert.rejects(runCompute({ base: at('base'), instruct: at('instruct'), out: at('occupied'), overwrite: true, dryRun: true }), (error: unknown) =>
    error instanceof SurgeonError && error.rule === 'output-not-ours');
  assert.deepEqual(await readdir(at('occupied')), ['keep.txt']);
  await runCompute({ base: at('base'), instruct: at('instruct'), out: at('earlier') });
  const allowed = await runCompute({ base: at('base'), instruct: at('instruct'), out: at('earlier'), overwrite: true, dryRun: true });
  assert.equal(allowed.kind, 'dry-run');
  await assert.rejects(runApply({ base: at('base'), residual: at('earlier'), out: at('earlier'), overwrite: true, dryRun: true }), (error: unknown) =>
    error instanceof SurgeonError && error.rule === 'output-overlaps-input' && /the output is the residual checkpoint/.test(error.message));
});
