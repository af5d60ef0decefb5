/**
 * A LoRA adapter merged into an FP8 (DeepSeek-layout) target: the weight is dequantized as apply reads it (one binary32
 * product with its block's scale), ΔW added with the one binary32 rounding, then written BF16 by default or re-quantized
 * with fresh block scales under --dtype fp8; the weights the adapter does not touch keep their bytes and scales there.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { readTensorBytes } from '../../../src/engine/checkpoint/read-tensor-bytes';
import { runApply } from '../../../src/engine/jobs/apply';
import { e4m3ToNumber } from '../../../src/engine/numerics/float8';
import { writeFp8Checkpoint, type QuantizedWeight } from '../../helpers/fp8-checkpoints';
import { f32BitsToBf16Bits, makeTensor, mulberry32 } from '../../helpers/make-checkpoint';
import { writePeftAdapter } from '../../helpers/make-peft-adapter';
import { readTensorValues } from '../../helpers/read-tensor';
import { scratchFolders } from '../../helpers/scratch-folders';

const newFolder = scratchFolders('surgeon-apply-adapter-fp8-');
const Q = 'model.layers.0.self_attn.q_proj';
const DOWN = 'model.layers.0.mlp.down_proj.weight';

function dequantized(weight: QuantizedWeight): Float32Array {
  const scaleColumns = Math.ceil(weight.columns / 128);
  return Float32Array.from(weight.bytes, (byte, index) => {
    const [row, column] = [Math.floor(index / weight.columns), index % weight.columns];
    return Math.fround(e4m3ToNumber(byte) * weight.scales[Math.floor(row / 128) * scaleColumns + Math.floor(column / 128)]!);
  });
}

function bf16(value: number): number {
  const bits = f32BitsToBf16Bits(new Uint32Array(new Float32Array([value]).buffer)[0]!);
  return new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
}

describe('apply --residual <adapter> onto an FP8 target', () => {
  it('writes dequant(W) + ΔW as BF16 by default, and re-quantizes the merged weight under --dtype fp8', async () => {
    const root = await newFolder();
    const { weights } = await writeFp8Checkpoint(join(root, 'model'));
    const q = weights.find((weight) => weight.name === `${Q}.weight`)!;
    const random = mulberry32(5);
    const factor = (shape: [number, number]): ReturnType<typeof makeTensor> => makeTensor('factor', shape, 'F32', () => (random() - 0.5) * 0.01);
    const rank = 4;
    const adapterDir = await writePeftAdapter(join(root, 'adapter'), { config: { r: rank, lora_alpha: 8 }, modules: [{ module: Q, a: factor([rank, q.columns]), b: factor([q.rows, rank]) }] });
    const adapter = await openCheckpoint(adapterDir);
    const a = await readTensorValues(adapter, `base_model.model.${Q}.lora_A.weight`);
    const b = await readTensorValues(adapter, `base_model.model.${Q}.lora_B.weight`);
    const w = dequantized(q);
    const expected = Array.from(w, (value, index) => {
      const [row, column] = [Math.floor(index / q.columns), index % q.columns];
      let acc = 0;
      for (let k = 0; k < rank; k++) acc = Math.fround(acc + Math.fround(b[row * rank + k]! * a[k * q.columns + column]!));
      return Math.fround(value + Math.fround(2 * acc));
    });

    const out = join(root, 'bf16');
    await runApply({ base: join(root, 'model'), residual: adapterDir, out });
    const output = await openCheckpoint(out);
    assert.equal(output.tensors.get(`${Q}.weight`)!.dtype, 'BF16');
    assert.deepEqual(await readTensorValues(output, `${Q}.weight`), expected.map(bf16));
    assert.equal([...output.tensors.keys()].some((name) => name.endsWith('weight_scale_inv')), false);

    const fp8Out = join(root, 'fp8');
    await runApply({ base: join(root, 'model'), residual: adapterDir, out: fp8Out, dtype: 'fp8' });
    const [model, requantized] = [await openCheckpoint(join(root, 'model')), await openCheckpoint(fp8Out)];
    assert.equal(requantized.tensors.get(`${Q}.weight`)!.dtype, 'F8_E4M3');
    const scales = new Float32Array((await readTensorBytes(requantized.tensors.get(`${Q}.weight_scale_inv`)!)).buffer);
    const written = dequantized({ ...q, bytes: await readTensorBytes(requantized.tensors.get(`${Q}.weight`)!), scales });
    const amax = Math.max(...expected.map(Math.abs));
    written.forEach((value, index) => assert.ok(Math.abs(value - expected[index]!) <= amax / 16, `element ${index}: ${value} against ${expected[index]}`));
    for (const name of [DOWN, DOWN.replace('.weight', '.weight_scale_inv')]) {
      assert.deepEqual(await readTensorBytes(requantized.tensors.get(name)!), await readTensorBytes(model.tensors.get(name)!), name);
    }
  });
});
