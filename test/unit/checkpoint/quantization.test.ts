import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { detectQuantization } from '../../../src/engine/checkpoint/quantization';
import { isFloatDtype } from '../../../src/engine/format/dtype';
import { llamaLikeTensors, writeCheckpoint } from '../../helpers/make-checkpoint';
import {
  HIDDEN, QUANTIZED_LAYOUTS, methodFromTensors, plainConfig, quantizedTensors, zeroTensor,
} from '../../helpers/quantized-checkpoints';
import { scratchFolders } from '../../helpers/scratch-folders';

const scratch = scratchFolders('surgeon-quantization-');

for (const layout of QUANTIZED_LAYOUTS) {
  test(`${layout.label}: named by config.json quantization_config, with its quantized tensors listed`, async () => {
    const dir = await scratch();
    await writeCheckpoint(dir, quantizedTensors(layout), { config: { ...plainConfig(), quantization_config: layout.quantizationConfig } });
    const found = detectQuantization(await openCheckpoint(dir));
    assert.ok(found);
    assert.equal(found.method, layout.method);
    assert.equal(found.evidence, `config.json quantization_config.quant_method ${JSON.stringify(layout.method)}`);
    assert.equal(found.file, join(dir, 'config.json'));
    assert.deepEqual(found.config, layout.quantizationConfig);
    assert.deepEqual([...found.tensors].sort(), layout.projection.map((tensor) => tensor.name).sort());
  });

  test(`${layout.label}: recognised from the tensors alone`, async () => {
    const dir = await scratch();
    await writeCheckpoint(dir, quantizedTensors(layout), { config: plainConfig() });
    const found = detectQuantization(await openCheckpoint(dir));
    assert.ok(found, 'detected without a quantization_config');
    assert.equal(found.method, methodFromTensors(layout));
    assert.equal(found.file, join(dir, 'model.safetensors'));
    assert.match(found.evidence, /^tensor "model\.layers\.0\.self_attn\.q_proj\.[\w.]+" \(.+\)/);
    assert.ok(layout.projection.some((tensor) => found.evidence.includes(JSON.stringify(tensor.name))));
    assert.deepEqual([...found.tensors].sort(), layout.projection.map((tensor) => tensor.name).sort());
  });
}

test('a plain BF16 model, tied or not, and a single file without config are not quantized', async () => {
  for (const tied of [true, false]) {
    const dir = await scratch();
    await writeCheckpoint(dir, llamaLikeTensors({ layers: 2, hidden: 16, vocab: 32, dtype: 'BF16', tied, seed: 1 }), { config: plainConfig(32) });
    assert.equal(detectQuantization(await openCheckpoint(dir)), undefined);
    assert.equal(detectQuantization(await openCheckpoint(join(dir, 'model.safetensors'))), undefined);
  }
});

test('plain integer tensors (position ids, masks) and a null quantization_config are not quantization', async () => {
  const dir = await scratch();
  await writeCheckpoint(dir, [
    ...llamaLikeTensors({ layers: 1, hidden: HIDDEN, vocab: 12, dtype: 'F16', tied: true, seed: 2 }),
    zeroTensor('model.position_ids', 'I64', [1, 16]), zeroTensor('model.attention_mask', 'U8', [16, 16]),
    zeroTensor('model.layers.0.mlp.scales', 'F32', [HIDDEN]),
  ], { config: { ...plainConfig(), quantization_config: null } });
  assert.equal(detectQuantization(await openCheckpoint(dir)), undefined);
});

test('any other quant_method is named as written; a quantization_config without one is still refused as unknown', async () => {
  const named = await scratch();
  await writeCheckpoint(named, llamaLikeTensors({ layers: 1, hidden: HIDDEN, vocab: 12, dtype: 'BF16', tied: true, seed: 3 }),
    { config: { ...plainConfig(), quantization_config: { quant_method: 'hqq', nbits: 4 } } });
  const hqq = detectQuantization(await openCheckpoint(named));
  assert.deepEqual([hqq?.method, hqq?.evidence, hqq?.tensors], ['hqq', 'config.json quantization_config.quant_method "hqq"', []]);

  const unnamed = await scratch();
  await writeCheckpoint(unnamed, llamaLikeTensors({ layers: 1, hidden: HIDDEN, vocab: 12, dtype: 'BF16', tied: true, seed: 3 }),
    { config: { ...plainConfig(), quantization_config: { bits: 4 } } });
  assert.equal(detectQuantization(await openCheckpoint(unnamed))?.method, 'unknown');

  const legacyBitsandbytes = await scratch();
  await writeCheckpoint(legacyBitsandbytes, llamaLikeTensors({ layers: 1, hidden: HIDDEN, vocab: 12, dtype: 'BF16', tied: true, seed: 3 }),
    { config: { ...plainConfig(), quantization_config: { load_in_4bit: true } } });
  assert.equal(detectQuantization(await openCheckpoint(legacyBitsandbytes))?.method, 'bitsandbytes');
});

test('FP8 weights without scales, and gpt-oss MXFP4 blocks, are recognised from their tensors', async () => {
  const bare = await scratch();
  await writeCheckpoint(bare, [zeroTensor('model.layers.0.mlp.down_proj.weight', 'F8_E5M2', [HIDDEN, HIDDEN])]);
  assert.deepEqual(detectQuantization(await openCheckpoint(bare)), {
    method: 'fp8', evidence: 'tensor "model.layers.0.mlp.down_proj.weight" (F8_E5M2 values, which are not read as numbers)',
    file: join(bare, 'model.safetensors'), layout: 'low-precision-float', tensors: ['model.layers.0.mlp.down_proj.weight'],
  });

  const mxfp4 = await scratch();
  await writeCheckpoint(mxfp4, [
    zeroTensor('model.layers.0.mlp.experts.down_proj_blocks', 'U8', [2, HIDDEN, 1, 16]),
    zeroTensor('model.layers.0.mlp.experts.down_proj_scales', 'U8', [2, HIDDEN, 1]),
    zeroTensor('model.layers.0.mlp.experts.down_proj_bias', 'BF16', [2, HIDDEN]),
  ]);
  const found = detectQuantization(await openCheckpoint(mxfp4));
  assert.deepEqual([found?.method, found?.layout, found?.tensors], ['mxfp4', 'mxfp4', ['model.layers.0.mlp.experts.down_proj_blocks']]);
});

test('the F8 dtypes are parsed from headers as 1-byte dtypes the kernels do no arithmetic on', async () => {
  const dir = await scratch();
  await writeCheckpoint(dir, [zeroTensor('a', 'F8_E4M3', [3, 5]), zeroTensor('b', 'F8_E5M2', [7])]);
  const checkpoint = await openCheckpoint(dir);
  assert.deepEqual([...checkpoint.tensors.values()].map((ref) => [ref.name, ref.dtype, ref.byteLength]).sort(),
    [['a', 'F8_E4M3', 15], ['b', 'F8_E5M2', 7]]);
  assert.equal(isFloatDtype('F8_E4M3'), false);
  assert.equal(isFloatDtype('F8_E5M2'), false);
});
