/** Pairing FP8 weights with their scales: the layouts read, and every other layout refused by name. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeFp8Checkpoint, loadFp8ScaleGrid, readFp8Scales, type Fp8Weight } from '../../../src/engine/checkpoint/fp8-scales';
import { readTensorBytes } from '../../../src/engine/checkpoint/read-tensor-bytes';
import { loadKernels } from '../../../src/engine/kernels/kernels';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { isSurgeonError } from '../../../src/engine/errors';
import type { Dtype } from '../../../src/engine/format/dtype';
import { e4m3ToNumber } from '../../../src/engine/numerics/float8';
import { fp8Config, fp8Tensors, quantizeE4m3, writeFp8Checkpoint } from '../../helpers/fp8-checkpoints';
import { llamaLikeTensors, writeCheckpoint, type TensorWithData } from '../../helpers/make-checkpoint';
import { zeroTensor } from '../../helpers/quantized-checkpoints';
import { scratchFolders } from '../../helpers/scratch-folders';

const scratch = scratchFolders('surgeon-fp8-scales-');
const Q_PROJ = 'model.layers.0.self_attn.q_proj';

async function describeWritten(tensors: TensorWithData[], config: Record<string, unknown> | undefined): Promise<ReturnType<typeof describeFp8Checkpoint>> {
  const dir = await scratch();
  await writeCheckpoint(dir, tensors, config === undefined ? {} : { config });
  return describeFp8Checkpoint(await openCheckpoint(dir));
}

/** Refused as an unknown scale layout, naming `tensor` (a name, or a pattern where several tensors would do), else config.json. */
async function assertRefused(tensors: TensorWithData[], config: Record<string, unknown> | undefined, pattern: RegExp, tensor?: string | RegExp): Promise<void> {
  await assert.rejects(describeWritten(tensors, config), (error: unknown) => {
    assert.ok(isSurgeonError(error), String(error));
    assert.equal(error.rule, 'unknown-scale-layout');
    assert.match(error.message, pattern);
    if (typeof tensor === 'string') assert.equal(error.tensor, tensor);
    else if (tensor !== undefined) assert.match(error.tensor ?? '', tensor);
    else assert.match(error.file ?? '', /config\.json$/);
    return true;
  });
}

/** The default FP8 tensors with `change` applied to the list. */
function deepSeekTensors(change: (tensors: TensorWithData[]) => TensorWithData[] = (tensors) => tensors): TensorWithData[] {
  return change(fp8Tensors().tensors);
}

const replace = (name: string, by: TensorWithData | undefined) => (tensors: TensorWithData[]): TensorWithData[] =>
  tensors.flatMap((tensor) => (tensor.name === name ? (by === undefined ? [] : [by]) : [tensor]));

/** A tiny Llama whose q_proj is FP8 [8, 8] with a `weight_scale` of `shape`. */
function channelScaled(shape: number[], scaleDtype: Dtype = 'F32'): TensorWithData[] {
  const plain = llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: true, seed: 3 });
  return plain.flatMap((tensor) => (tensor.name === `${Q_PROJ}.weight`
    ? [zeroTensor(`${Q_PROJ}.weight`, 'F8_E4M3', [8, 8]), zeroTensor(`${Q_PROJ}.weight_scale`, scaleDtype, shape)]
    : [tensor]));
}

const compressedTensors = (strategy: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model_type: 'llama',
  quantization_config: {
    quant_method: 'compressed-tensors', format: 'float-quantized', quantization_status: 'compressed',
    config_groups: { group_0: { targets: ['Linear'], weights: { type: 'float', num_bits: 8, strategy, symmetric: true, dynamic: false } } },
    ...extra,
  },
});

describe('FP8 scales', () => {
  it('pairs each DeepSeek-layout weight with its block scales and reads them', async () => {
    const dir = await scratch();
    const written = await writeFp8Checkpoint(dir);
    const checkpoint = await openCheckpoint(dir);
    const fp8 = describeFp8Checkpoint(checkpoint);
    assert.ok(fp8);
    assert.equal(fp8.method, 'fp8');
    // In checkpoint order, which is the writer's (by name).
    assert.deepEqual([...fp8.weights.keys()], [...checkpoint.tensors.keys()].filter((name) => checkpoint.tensors.get(name)!.dtype === 'F8_E4M3'));
    assert.deepEqual([...fp8.weights.keys()].sort(), written.weights.map((weight) => weight.name).sort());
    assert.deepEqual([...fp8.scales].sort(), written.weights.map((weight) => [`${weight.name}_scale_inv`, weight.name]).sort());
    for (const source of written.weights) {
      const weight: Fp8Weight = fp8.weights.get(source.name)!;
      assert.equal(weight.layout, 'block');
      assert.equal(weight.dtype, 'F8_E4M3');
      assert.deepEqual([weight.rows, weight.columns, weight.blockRows, weight.blockColumns], [source.rows, source.columns, 128, 128]);
      assert.deepEqual([weight.scaleRows, weight.scaleColumns], [Math.ceil(source.rows / 128), Math.ceil(source.columns / 128)]);
      const scales = await readFp8Scales(weight);
      assert.deepEqual([...scales.values], [...source.scales]);
      // Every element's scale is its block's: dequantizing the written bytes with scaleAt gives the source within half a step.
      for (let row = 0; row < source.rows; row++) {
        for (let column = 0; column < source.columns; column++) {
          const scale = scales.scaleAt(row, column);
          assert.equal(scale, source.scales[Math.floor(row / 128) * weight.scaleColumns + Math.floor(column / 128)]);
          const value = Math.fround(e4m3ToNumber(source.bytes[row * source.columns + column]!) * scale);
          assert.ok(Math.abs(value - source.values[row * source.columns + column]!) <= scale * 16, `${source.name} (${row}, ${column})`);
        }
      }
    }
    assert.equal(checkpoint.tensors.get('model.embed_tokens.weight')?.dtype, 'BF16');
    assert.equal(fp8.weights.has('model.embed_tokens.weight'), false);
  });

  it('loads a weight\'s scale grid into kernel memory: both kernels dequantize the written weights alike', async () => {
    const dir = await scratch();
    const written = await writeFp8Checkpoint(dir);
    const fp8 = describeFp8Checkpoint(await openCheckpoint(dir))!;
    const results: Uint8Array[] = [];
    for (const kernels of [await loadKernels('wasm-simd'), await loadKernels('js')]) {
      const source = written.weights[2]!;
      const weight = fp8.weights.get(source.name)!;
      const grid = await loadFp8ScaleGrid(kernels, weight);
      const count = source.rows * source.columns;
      const bytes = kernels.allocate(count);
      bytes.bytes.set(await readTensorBytes(weight.weight));
      const out = kernels.allocate(count * 4);
      kernels.dequantizeFp8Blocks(bytes, weight.dtype, out, count, 0, grid);
      const values = new Float32Array(out.bytes.slice().buffer);
      for (let i = 0; i < count; i++) {
        const scale = source.scales[Math.floor(Math.floor(i / source.columns) / 128) * weight.scaleColumns + Math.floor((i % source.columns) / 128)]!;
        assert.equal(values[i], Math.fround(e4m3ToNumber(source.bytes[i]!) * scale), `${kernels.name}: element ${i}`);
      }
      results.push(out.bytes.slice());
      kernels.free(grid.scales);
    }
    assert.deepEqual(results[0], results[1]);
  });

  it('reads block scales without a quantization section, and blocks of another size from weight_block_size', async () => {
    const bare = await describeWritten(deepSeekTensors(), { ...fp8Config(), quantization_config: undefined });
    assert.equal(bare?.method, undefined);
    assert.equal(bare?.weights.size, 3);
    const dir = await scratch();
    await writeFp8Checkpoint(dir, { block: [64, 32] });
    const fp8 = describeFp8Checkpoint(await openCheckpoint(dir))!;
    const q = fp8.weights.get(`${Q_PROJ}.weight`)!;
    assert.deepEqual([q.blockRows, q.blockColumns, q.scaleRows, q.scaleColumns], [64, 32, 4, 5]);
  });

  it('is undefined for a plain checkpoint and for an integer compressed-tensors one', async () => {
    assert.equal(await describeWritten(llamaLikeTensors({ layers: 1, hidden: 8, vocab: 12, dtype: 'BF16', tied: true, seed: 1 }), { model_type: 'llama' }), undefined);
    const int8 = channelScaled([8, 1]).map((tensor) => (tensor.dtype === 'F8_E4M3' ? zeroTensor(tensor.name, 'I8', tensor.shape) : tensor));
    assert.equal(await describeWritten(int8, { quantization_config: { quant_method: 'compressed-tensors', format: 'int-quantized' } }), undefined);
  });

  it('reads per-channel and per-tensor weight_scale of compressed-tensors and fbgemm_fp8', async () => {
    const channel = await describeWritten(channelScaled([8, 1]), compressedTensors('channel'));
    assert.equal(channel?.method, 'compressed-tensors');
    const weight = channel!.weights.get(`${Q_PROJ}.weight`)!;
    assert.deepEqual([weight.layout, weight.blockRows, weight.blockColumns, weight.scaleRows, weight.scaleColumns], ['per-channel', 1, 8, 8, 1]);
    const flat = await describeWritten(channelScaled([8]), compressedTensors('channel'));
    assert.equal(flat!.weights.get(`${Q_PROJ}.weight`)!.layout, 'per-channel');
    for (const shape of [[], [1]]) {
      const tensor = await describeWritten(channelScaled(shape), compressedTensors('tensor'));
      const scaled = tensor!.weights.get(`${Q_PROJ}.weight`)!;
      assert.deepEqual([scaled.layout, scaled.blockRows, scaled.blockColumns, scaled.scaleRows, scaled.scaleColumns], ['per-tensor', 8, 8, 1, 1]);
    }
    const fbgemm = await describeWritten(channelScaled([8, 1]), { quantization_config: { quant_method: 'fbgemm_fp8', activation_scale_ub: 1200 } });
    assert.equal(fbgemm?.method, 'fbgemm_fp8');
    assert.equal(fbgemm!.weights.get(`${Q_PROJ}.weight`)!.layout, 'per-channel');
    // scaleAt of a per-channel scale is the row's.
    const dir = await scratch();
    const values = Float32Array.from({ length: 64 }, (_, i) => (i % 8) - 4 + Math.floor(i / 8) * 10);
    const { bytes } = quantizeE4m3(values, 8, 8);
    const rowScales = Float32Array.from({ length: 8 }, (_, row) => (row + 1) / 64);
    await writeCheckpoint(dir, [
      { name: `${Q_PROJ}.weight`, dtype: 'F8_E4M3', shape: [8, 8], data: bytes },
      { name: `${Q_PROJ}.weight_scale`, dtype: 'F32', shape: [8, 1], data: new Uint8Array(rowScales.buffer) },
    ], { config: { quantization_config: { quant_method: 'fbgemm_fp8' } } });
    const scales = await readFp8Scales(describeFp8Checkpoint(await openCheckpoint(dir))!.weights.get(`${Q_PROJ}.weight`)!);
    assert.deepEqual([0, 3, 7].map((row) => scales.scaleAt(row, 5)), [1 / 64, 4 / 64, 8 / 64]);
  });

  it('refuses an FP8 weight without its scale, and a scale without its FP8 weight', async () => {
    await assertRefused(deepSeekTensors(replace(`${Q_PROJ}.weight_scale_inv`, undefined)), fp8Config(), /an FP8 weight without its scale .*weight_scale_inv.*there is none/, `${Q_PROJ}.weight`);
    await assertRefused(
      deepSeekTensors((tensors) => [...tensors, zeroTensor('model.layers.0.mlp.up_proj.weight_scale_inv', 'F32', [1, 1])]), fp8Config(),
      /a scale tensor without an FP8 weight: there is no weight of that name/, 'model.layers.0.mlp.up_proj.weight_scale_inv',
    );
    await assertRefused(
      deepSeekTensors((tensors) => [...tensors, zeroTensor('model.layers.0.mlp.gate.weight_scale_inv', 'F32', [1, 2])]), fp8Config(),
      /its weight "model\.layers\.0\.mlp\.gate\.weight" is BF16, not FP8/, 'model.layers.0.mlp.gate.weight_scale_inv',
    );
  });

  it('refuses scales of the wrong shape or dtype', async () => {
    await assertRefused(deepSeekTensors(replace(`${Q_PROJ}.weight_scale_inv`, zeroTensor(`${Q_PROJ}.weight_scale_inv`, 'F32', [2, 1]))), fp8Config(),
      /block scales of shape \[2, 1\] for a \[200, 130\] weight in blocks of 128 x 128; expected \[2, 2\]/, `${Q_PROJ}.weight_scale_inv`);
    await assertRefused(deepSeekTensors(), fp8Config([64, 64]), /in blocks of 64 x 64; expected \[\d+, \d+\]/, /\.weight_scale_inv$/);
    await assertRefused(deepSeekTensors(replace(`${Q_PROJ}.weight_scale_inv`, zeroTensor(`${Q_PROJ}.weight_scale_inv`, 'BF16', [2, 2]))), fp8Config(),
      /a BF16 scale; FP8 scales are read as F32/, `${Q_PROJ}.weight_scale_inv`);
    await assertRefused(channelScaled([8, 2]), compressedTensors('channel'), /a scale of shape \[8, 2\] for a \[8, 8\] weight/, `${Q_PROJ}.weight_scale`);
    await assertRefused(channelScaled([1]), compressedTensors('channel'), /reads \[8\] or \[8, 1\] \(per channel\) \[unknown-scale-layout\]$/, `${Q_PROJ}.weight_scale`);
    await assertRefused(channelScaled([8, 1], 'BF16'), compressedTensors('channel'), /a BF16 scale/, `${Q_PROJ}.weight_scale`);
  });

  it('refuses the scales a method does not write, and methods and formats it does not read', async () => {
    await assertRefused(channelScaled([8, 1]), fp8Config(), /without its scale .*weight_scale_inv.*there is "model\.layers\.0\.self_attn\.q_proj\.weight_scale" instead/, `${Q_PROJ}.weight`);
    await assertRefused(deepSeekTensors(), { quantization_config: { quant_method: 'fbgemm_fp8' } }, /weight_scale.*there is ".*weight_scale_inv" instead/, /\.weight$/);
    await assertRefused(deepSeekTensors(), { quantization_config: { quant_method: 'gptq', bits: 4 } }, /FP8 tensors under config\.json quantization_config\.quant_method "gptq"/);
    await assertRefused(deepSeekTensors(), { quantization_config: 'fp8' }, /not an object/);
    await assertRefused(deepSeekTensors(), { quantization_config: { ...fp8Config()['quantization_config'] as object, fmt: 'e5m2' } }, /F8_E4M3 weights, but .* says F8_E5M2/, /\.weight$/);
    await assertRefused(deepSeekTensors(), { quantization_config: { quant_method: 'fp8', fmt: 'int8' } }, /fmt "int8"/);
    await assertRefused(deepSeekTensors(), { quantization_config: { quant_method: 'fp8', weight_block_size: [128] } }, /weight_block_size \[128\] is not two positive integers/);
    await assertRefused(channelScaled([8, 1]), compressedTensors('block', {}), /strategy":"block"/);
    await assertRefused(channelScaled([8, 1]), compressedTensors('channel', { format: 'pack-quantized' }), /compressed-tensors format "pack-quantized"/);
    await assertRefused(channelScaled([]), compressedTensors('channel'), /a scale of shape \[\] for a \[8, 8\] weight/, `${Q_PROJ}.weight_scale`);
  });

  it('refuses FP8 dtypes that are not decoded, FP8 tensors that are not matrices or weights, and other quantization tensors', async () => {
    const retyped = (dtype: Dtype) => replace(`${Q_PROJ}.weight`, zeroTensor(`${Q_PROJ}.weight`, dtype, [200, 130]));
    await assertRefused(deepSeekTensors(retyped('F8_E4M3FNUZ')), fp8Config(), /F8_E4M3FNUZ values are not decoded/, `${Q_PROJ}.weight`);
    await assertRefused(deepSeekTensors(retyped('F8_E8M0')), fp8Config(), /F8_E8M0 values are not decoded/, `${Q_PROJ}.weight`);
    await assertRefused(deepSeekTensors((tensors) => [...tensors, zeroTensor('model.layers.0.self_attn.kv_cache', 'F8_E4M3', [4, 4])]), fp8Config(),
      /not a weight/, 'model.layers.0.self_attn.kv_cache');
    await assertRefused(deepSeekTensors(replace(`${Q_PROJ}.weight`, zeroTensor(`${Q_PROJ}.weight`, 'F8_E4M3', [200, 130, 1]))), fp8Config(),
      /shape \[200, 130, 1\]; FP8 weights are read as matrices/, `${Q_PROJ}.weight`);
    await assertRefused(channelScaled([8, 1]).concat([zeroTensor(`${Q_PROJ}.weight_zero_point`, 'I32', [8, 1])]), compressedTensors('channel'),
      /a quantization tensor \(I32 \[8, 1\]\) that is not part of an FP8 weight-and-scale layout/, `${Q_PROJ}.weight_zero_point`);
  });

  it('names the file of a refused tensor, without reading tensor data', async () => {
    const dir = await scratch();
    await writeCheckpoint(dir, deepSeekTensors(replace(`${Q_PROJ}.weight_scale_inv`, undefined)), { config: fp8Config() });
    const checkpoint = await openCheckpoint(dir);
    assert.throws(() => describeFp8Checkpoint(checkpoint), {
      message: new RegExp(`^${join(dir, 'model.safetensors').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, tensor "model\\.layers\\.0\\.self_attn\\.q_proj\\.weight": an FP8 weight without its scale`),
    });
  });
});
