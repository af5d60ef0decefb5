import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import {
  encodeFloat32, f32BitsToBf16Bits, f32BitsToF16Bits, llamaLikeTensors, writeCheckpoint,
} from '../../helpers/make-checkpoint';

const scratch = mkdtemp(join(tmpdir(), 'surgeon-make-'));
after(async () => rm(await scratch, { recursive: true, force: true }));

function bf16ToNumber(bits: number): number {
  return new Float32Array(new Uint32Array([bits << 16]).buffer)[0] ?? NaN;
}

function f16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function f32Bits(value: number): number {
  return new Uint32Array(new Float32Array([value]).buffer)[0] ?? 0;
}

interface HalfFormat {
  decode(bits: number): number;
  /** Largest finite magnitude bits (odd in both formats, so a tie above it rounds to infinity). */
  maxFinite: number;
  /** Values from here on round to infinity. */
  overflowAt: number;
}

const BF16: HalfFormat = { decode: bf16ToNumber, maxFinite: 0x7f7f, overflowAt: new Float32Array(new Uint32Array([0x7f7f8000]).buffer)[0] ?? 0 };
const F16: HalfFormat = { decode: f16ToNumber, maxFinite: 0x7bff, overflowAt: 65520 };

/** The narrowed value must be a nearest neighbour, and on a tie the one whose last bit is even. */
function assertNearestEven(value: number, bits: number, format: HalfFormat): void {
  const result = format.decode(bits);
  assert.equal(!Number.isFinite(result), Math.abs(value) >= format.overflowAt, `${value} -> ${result}`);
  if (!Number.isFinite(result)) return;
  const sign = bits & 0x8000;
  const magnitude = bits & 0x7fff;
  const error = Math.abs(result - value);
  for (const neighbour of [magnitude - 1, magnitude + 1]) {
    if (neighbour < 0 || neighbour > format.maxFinite) continue;
    const otherError = Math.abs(format.decode(sign | neighbour) - value);
    assert.ok(error < otherError || (error === otherError && (bits & 1) === 0),
      `${value} -> ${result} (bits ${bits.toString(16)}) but ${format.decode(sign | neighbour)} is as near or nearer`);
  }
  if (result !== 0) assert.equal(Math.sign(result), Math.sign(value));
}

test('f32 -> bf16 rounds to nearest even', () => {
  fc.assert(fc.property(fc.float({ noNaN: true }), (value) => {
    assertNearestEven(value, f32BitsToBf16Bits(f32Bits(value)), BF16);
  }), { numRuns: 3000 });
  assert.equal(f32BitsToBf16Bits(f32Bits(NaN)), 0x7fc0);
});

test('f32 -> f16 rounds to nearest even, subnormals and overflow included', () => {
  const wide = fc.float({ min: Math.fround(-70000), max: Math.fround(70000), noNaN: true });
  const tiny = fc.float({ min: Math.fround(-1e-4), max: Math.fround(1e-4), noNaN: true });
  fc.assert(fc.property(fc.oneof(wide, tiny, fc.float({ noNaN: true })), (value) => {
    assertNearestEven(value, f32BitsToF16Bits(f32Bits(value)), F16);
  }), { numRuns: 5000 });
  // Exact ties go to the even neighbour.
  assert.equal(f16ToNumber(f32BitsToF16Bits(f32Bits(1 + 2 ** -11))), 1);
  assert.equal(f16ToNumber(f32BitsToF16Bits(f32Bits(1 + 3 * 2 ** -11))), 1 + 2 ** -9);
  assert.equal(f16ToNumber(f32BitsToF16Bits(f32Bits(2 ** -25))), 0);
  assert.equal(f16ToNumber(f32BitsToF16Bits(f32Bits(2 ** -25 * 1.5))), 2 ** -24);
  assert.equal(f16ToNumber(f32BitsToF16Bits(f32Bits(65520))), Infinity);
  assert.ok(Number.isNaN(f16ToNumber(f32BitsToF16Bits(f32Bits(NaN)))));
});

test('llamaLikeTensors gives Llama names, shapes and deterministic data', () => {
  const options = { layers: 2, hidden: 8, vocab: 16, dtype: 'BF16' as const, tied: false, seed: 7 };
  const tensors = llamaLikeTensors(options);
  assert.deepEqual(tensors.map((tensor) => tensor.name), [
    'model.embed_tokens.weight',
    ...[0, 1].flatMap((layer) => [
      'self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight', 'self_attn.o_proj.weight',
      'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight', 'input_layernorm.weight', 'post_attention_layernorm.weight',
    ].map((suffix) => `model.layers.${layer}.${suffix}`)),
    'model.norm.weight', 'lm_head.weight',
  ]);
  const byName = new Map(tensors.map((tensor) => [tensor.name, tensor]));
  assert.deepEqual(byName.get('model.embed_tokens.weight')?.shape, [16, 8]);
  assert.deepEqual(byName.get('model.layers.1.mlp.down_proj.weight')?.shape, [8, 16]);
  assert.equal(byName.get('model.layers.0.mlp.up_proj.weight')?.data.byteLength, 16 * 8 * 2);
  assert.deepEqual(llamaLikeTensors(options), tensors);
  assert.notDeepEqual(llamaLikeTensors({ ...options, seed: 8 })[0]?.data, tensors[0]?.data);
  const tied = llamaLikeTensors({ ...options, tied: true, dtype: 'F16' });
  assert.equal(tied.some((tensor) => tensor.name === 'lm_head.weight'), false);
  assert.ok(tied.every((tensor) => tensor.dtype === 'F16'));
  // The F32 and BF16 versions hold the same values, rounded.
  const f32 = llamaLikeTensors({ ...options, dtype: 'F32' })[0];
  assert.ok(f32);
  assert.deepEqual(encodeFloat32(new Float32Array(f32.data.buffer.slice(0)), 'BF16'), tensors[0]?.data);
});

test('writeCheckpoint writes what openCheckpoint reads back, sharded or not', async () => {
  const tensors = llamaLikeTensors({ layers: 3, hidden: 16, vocab: 32, dtype: 'F32', tied: true, seed: 1 });
  const single = await writeCheckpoint(join(await scratch, 'single'), tensors, { config: { tie_word_embeddings: true } });
  assert.deepEqual(single.files, ['model.safetensors']);
  const sharded = await writeCheckpoint(join(await scratch, 'sharded'), tensors, {
    shardSize: 4096, sideFiles: { 'tokenizer.json': '{}' },
  });
  assert.ok(sharded.files.length > 1);
  for (const written of [single, sharded]) {
    const checkpoint = await openCheckpoint(written.dir);
    assert.equal(checkpoint.tensors.size, tensors.length);
    for (const tensor of tensors) {
      const ref = checkpoint.tensors.get(tensor.name);
      assert.ok(ref, tensor.name);
      assert.deepEqual([ref.dtype, ref.shape], [tensor.dtype, tensor.shape]);
      const file = await readFile(ref.file.path);
      assert.deepEqual(new Uint8Array(file.subarray(ref.offset, ref.offset + ref.byteLength)), tensor.data, tensor.name);
    }
  }
  assert.deepEqual((await openCheckpoint(single.dir)).config, { tie_word_embeddings: true });
  assert.deepEqual((await openCheckpoint(sharded.dir)).sideFiles, ['tokenizer.json']);
  await assert.rejects(writeCheckpoint(join(await scratch, 'bad'), [{ name: 'w', dtype: 'F32', shape: [2], data: new Uint8Array(4) }]));
});
