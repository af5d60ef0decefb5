/**
 * Export, then apply: a model merged with the adapter differs from the model merged with the full residual by what the
 * adapter reported it leaves out, matrix by matrix, and by nothing else.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { runApply, runCompute, runLora } from '../../../src/engine/jobs';
import type { LoraResult } from '../../../src/shared/jobs';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import { readTensorValues } from '../../helpers/read-tensor';
import { scratchFolders } from '../../helpers/scratch-folders';

const folder = scratchFolders('surgeon-lora-round-trip-');
const config = { model_type: 'llama', hidden_size: 16, num_hidden_layers: 2, vocab_size: 24, tie_word_embeddings: false, torch_dtype: 'bfloat16' };
let root: string;
const at = (name: string): string => join(root, name);

before(async () => {
  root = await folder();
  const shape = { layers: 2, hidden: 16, vocab: 24, dtype: 'BF16' as const, tied: false, intermediate: 40 };
  await writeCheckpoint(at('base'), llamaLikeTensors({ ...shape, seed: 1 }), { config });
  await writeCheckpoint(at('instruct'), llamaLikeTensors({ ...shape, seed: 2 }), { config });
  await writeCheckpoint(at('cpt'), llamaLikeTensors({ ...shape, seed: 3 }), { config });
});

test('export -> apply matches apply of the full residual within each matrix\'s reported error; what LoRA leaves out stays the target\'s', async () => {
  const lora = await runLora({ base: at('base'), instruct: at('instruct'), out: at('adapter'), ranks: { rank: 6 }, dtype: 'f32' }) as LoraResult;
  await runCompute({ base: at('base'), instruct: at('instruct'), out: at('residual') });
  await runApply({ base: at('cpt'), residual: at('adapter'), out: at('with-adapter'), dtype: 'f32' });
  await runApply({ base: at('cpt'), residual: at('residual'), out: at('with-residual'), dtype: 'f32' });
  const [withAdapter, withResidual, cpt, residual] = await Promise.all(['with-adapter', 'with-residual', 'cpt', 'residual'].map((name) => openCheckpoint(at(name))));
  for (const matrix of lora.matrices) {
    const [merged, full, r] = await Promise.all([readTensorValues(withAdapter!, matrix.tensor), readTensorValues(withResidual!, matrix.tensor), readTensorValues(residual!, matrix.tensor)]);
    let difference = 0;
    let norm = 0;
    merged.forEach((value, index) => {
      difference += (value - full[index]!) ** 2;
      norm += r[index]! ** 2;
    });
    const measured = Math.sqrt(difference / norm);
    assert.ok(matrix.relativeError > 0.05, `${matrix.module}: a full-rank delta at rank 6 loses something (${matrix.relativeError})`);
    // The two merges round W + ΔW to binary32 each: that noise is far below the truncation error.
    assert.ok(Math.abs(measured - matrix.relativeError) < 1e-4 * (1 + matrix.relativeError), `${matrix.module}: merged ${measured}, reported ${matrix.relativeError}`);
  }
  const card = await readFile(at('with-adapter/README.md'), 'utf8');
  assert.match(card, /merging a LoRA adapter \(14 modules, rank 6\)/);
  assert.match(card, /merge_and_unload/);
  for (const tensor of lora.leftOut.map((entry) => entry.tensor)) {
    assert.deepEqual(await readTensorValues(withAdapter!, tensor), await readTensorValues(cpt!, tensor), `${tensor} is not in the adapter: the target's own`);
  }
});
