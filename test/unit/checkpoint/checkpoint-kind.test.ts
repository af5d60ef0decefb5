/** Whether a folder is a residual, and which file stands for a checkpoint's weights. */
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isResidualFolder, isResidualsConfig, primaryWeightsFile, primaryWeightsName } from '../../../src/engine/checkpoint/checkpoint-kind';
import { residualsConfig } from '../../../src/engine/report/residuals-config';
import { scratchFolders } from '../../helpers/scratch-folders';

const scratch = scratchFolders('surgeon-checkpoint-kind-');

test('a residuals config is one with residuals_version, as compute writes it', () => {
  assert.equal(isResidualsConfig(residualsConfig({ tensors: [{ name: 'w', dtype: 'F32', shape: [2] }], tokenizerName: null })), true);
  assert.equal(isResidualsConfig({ residuals_version: '0.3' }), true);
  assert.equal(isResidualsConfig({ architectures: ['LlamaForCausalLM'], model_type: 'llama' }), false);
  assert.equal(isResidualsConfig({ residuals_version: 1 }), false);
  assert.equal(isResidualsConfig(null), false);
  assert.equal(isResidualsConfig('residuals_version'), false);
});

test('isResidualFolder reads the folder\'s config.json; a model, a file or a broken config is not a residual', async () => {
  const residual = await scratch();
  await writeFile(join(residual, 'config.json'), JSON.stringify({ residuals_version: '1.0', format: 'pytorch' }));
  await writeFile(join(residual, 'model.safetensors'), '');
  assert.equal(await isResidualFolder(residual), true);
  // The weights file of a residual is not itself a residual folder (Apply Residual to... treats it as the target).
  assert.equal(await isResidualFolder(join(residual, 'model.safetensors')), false);

  const model = await scratch();
  await writeFile(join(model, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  assert.equal(await isResidualFolder(model), false);

  const broken = await scratch();
  await writeFile(join(broken, 'config.json'), '{ "residuals_version": ');
  assert.equal(await isResidualFolder(broken), false);

  assert.equal(await isResidualFolder(await scratch()), false);
  assert.equal(await isResidualFolder(join(model, 'missing')), false);
});

test('primaryWeightsName follows openCheckpoint: the single file, the index, another index, another weights file', () => {
  assert.equal(primaryWeightsName(['config.json', 'model.safetensors', 'model.safetensors.index.json']), 'model.safetensors');
  assert.equal(primaryWeightsName(['model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors']), 'model.safetensors.index.json');
  assert.equal(primaryWeightsName(['adapter.safetensors', 'pytorch_model.safetensors.index.json']), 'pytorch_model.safetensors.index.json');
  assert.equal(primaryWeightsName(['z.safetensors', 'a.safetensors', 'README.md']), 'a.safetensors');
  assert.equal(primaryWeightsName(['pytorch_model.bin', 'config.json']), undefined);
  assert.equal(primaryWeightsName([]), undefined);
});

test('primaryWeightsFile: a weights file is itself, a folder gives its primary file, anything else nothing', async () => {
  const folder = await scratch();
  await writeFile(join(folder, 'model-00001-of-00002.safetensors'), '');
  await writeFile(join(folder, 'model.safetensors.index.json'), '{}');
  assert.equal(await primaryWeightsFile(folder), join(folder, 'model.safetensors.index.json'));
  assert.equal(await primaryWeightsFile(join(folder, 'model-00001-of-00002.safetensors')), join(folder, 'model-00001-of-00002.safetensors'));
  assert.equal(await primaryWeightsFile(join(folder, 'model.safetensors.index.json')), join(folder, 'model.safetensors.index.json'));

  // A Hugging Face cache snapshot is a folder of links into the blobs.
  const snapshot = await scratch();
  await symlink(join(folder, 'model-00001-of-00002.safetensors'), join(snapshot, 'model.safetensors'));
  assert.equal(await primaryWeightsFile(snapshot), join(snapshot, 'model.safetensors'));

  const empty = await scratch();
  await mkdir(join(empty, 'model.safetensors.d'));
  await writeFile(join(empty, 'config.json'), '{}');
  assert.equal(await primaryWeightsFile(empty), undefined);
  assert.equal(await primaryWeightsFile(join(empty, 'config.json')), undefined);
  assert.equal(await primaryWeightsFile(join(empty, 'missing')), undefined);
});
