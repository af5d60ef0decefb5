/**
 * FP8 checkpoints through the jobs (docs/fp8.md): a DeepSeek-layout pair (weights F8_E4M3 with 128 x 128
 * `weight_scale_inv` blocks, shapes not multiples of 128) through compute, apply and verify, and a mixed FP8 + BF16
 * pair. Every value is checked against a reference computed here from the definitions, independently of the kernels:
 * E4M3 decoded by its formula, one binary32 product with the block's scale, one binary32 subtraction.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { describeDiff } from '../../../src/cli/describe/diff-text';
import { describeInspect } from '../../../src/cli/describe/inspect-text';
import { describeResult } from '../../../src/cli/describe-result';
import { openCheckpoint } from '../../../src/engine/checkpoint/open-checkpoint';
import { blockQuantizationConfig } from '../../../src/engine/checkpoint/fp8-scales';
import { isSurgeonError } from '../../../src/engine/errors';
import { runApply, runCompute, runDiff, runInspect, runVerify } from '../../../src/engine/jobs';
import type { DiffReport } from '../../../src/shared/report';
import { fp8Config, writeFp8Checkpoint, type QuantizedWeight } from '../../helpers/fp8-checkpoints';
import { makeTensor, writeCheckpoint, type TensorWithData } from '../../helpers/make-checkpoint';
import { readTensorValues } from '../../helpers/read-tensor';
import { scratchFolders } from '../../helpers/scratch-folders';

/** E4M3 by its definition: NaN for S.1111.111, subnormals m/8 * 2^-6, normals (1 + m/8) * 2^(e-7). */
function decodeE4m3(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const exponent = (byte >> 3) & 0xf;
  const mantissa = byte & 7;
  if (exponent === 15 && mantissa === 7) return NaN;
  return exponent === 0 ? sign * (mantissa / 8) * 2 ** -6 : sign * (1 + mantissa / 8) * 2 ** (exponent - 7);
}

/** dequant(W)[i, j] = float32(byte) * scale of its block, one binary32 product. */
function dequantize(weight: QuantizedWeight): Float32Array {
  const scaleColumns = Math.ceil(weight.columns / 128);
  const out = new Float32Array(weight.rows * weight.columns);
  for (let row = 0; row < weight.rows; row++) {
    for (let column = 0; column < weight.columns; column++) {
      const index = row * weight.columns + column;
      const scale = weight.scales[Math.floor(row / 128) * scaleColumns + Math.floor(column / 128)]!;
      out[index] = Math.fround(decodeE4m3(weight.bytes[index]!) * scale);
    }
  }
  return out;
}

/** Round to nearest BF16, ties to even, as a number. */
function toBf16(value: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  const bits = view.getUint32(0);
  if (Number.isNaN(value)) return NaN;
  const rounded = (bits + 0x7fff + ((bits >> 16) & 1)) >>> 16;
  view.setUint32(0, (rounded << 16) >>> 0);
  return view.getFloat32(0);
}

/** Bit-level equality of binary32 values (so +0 and -0 differ and NaN equals NaN). */
function sameFloat32(actual: readonly number[], expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Float32Array(actual);
  const e = Float32Array.from(expected);
  const aBits = new Uint32Array(a.buffer);
  const eBits = new Uint32Array(e.buffer);
  for (let index = 0; index < a.length; index++) {
    if (aBits[index] !== eBits[index]) assert.fail(`${what}: element ${index} is ${a[index]}, expected ${e[index]}`);
  }
}

describe('FP8 checkpoints through compute, apply, verify and diff', () => {
  const scratch = scratchFolders('surgeon-fp8-jobs-');
  let root: string;
  let base: QuantizedWeight[];
  let instruct: QuantizedWeight[];
  const at = (name: string): string => join(root, name);
  /** The FP8 weights in checkpoint order (the writer orders tensors by name). */
  const fp8Names = (): string[] => base.map((weight) => weight.name).sort();

  before(async () => {
    root = await scratch();
    base = (await writeFp8Checkpoint(at('base'), { seed: 1 })).weights;
    instruct = (await writeFp8Checkpoint(at('instruct'), { seed: 2 })).weights;
  });

  it('compute: R = dequant(I) - dequant(B) in binary32, F32 by default, no scale tensors, statistics of the dequantized delta', async () => {
    const out = at('residual');
    const result = await runCompute({ base: at('base'), instruct: at('instruct'), out });
    assert.match(result.dtypeReason, /f32 for the F8_E4M3 weights, dequantized/);
    const residual = await openCheckpoint(out);
    assert.deepEqual([...residual.tensors.keys()].filter((name) => name.includes('scale')), []);
    for (const [index, weight] of base.entries()) {
      const b = dequantize(weight);
      const i = dequantize(instruct[index]!);
      const expected = b.map((value, element) => Math.fround(i[element]! - value));
      assert.equal(residual.tensors.get(weight.name)!.dtype, 'F32');
      sameFloat32(await readTensorValues(residual, weight.name), expected, weight.name);
      const report = result.report.tensors.find((tensor) => tensor.name === weight.name)!;
      assert.equal(report.maxAbsDelta, Math.max(...expected.map(Math.abs)));
      const baseNorm = Math.sqrt(b.reduce((sum, value) => sum + value * value, 0));
      assert.ok(Math.abs(report.baseNorm! - baseNorm) <= 1e-6 * baseNorm, `${weight.name}: baseNorm ${report.baseNorm} vs ${baseNorm}`);
    }
    assert.equal(result.report.tensors.some((tensor) => tensor.name.endsWith('weight_scale_inv')), false);
  });

  it('apply onto the FP8 base: BF16 by default, dequant(C) + R rounded once, config without quantization_config', async () => {
    const out = at('applied');
    await runApply({ base: at('base'), residual: at('residual'), out });
    const applied = await openCheckpoint(out);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['quantization_config'], undefined);
    assert.equal(config['torch_dtype'], 'bfloat16');
    assert.deepEqual([...applied.tensors.keys()].filter((name) => name.includes('scale')), []);
    assert.deepEqual(new Set([...applied.tensors.values()].map((ref) => ref.dtype)), new Set(['BF16']));
    for (const [index, weight] of base.entries()) {
      const b = dequantize(weight);
      const i = dequantize(instruct[index]!);
      // c + r in binary64 is exact for these magnitudes, so one binary32 rounding, then one BF16 rounding.
      const expected = b.map((value, element) => toBf16(Math.fround(value + Math.fround(i[element]! - value))));
      sameFloat32(await readTensorValues(applied, weight.name), expected, weight.name);
    }
  });

  it('apply --scale 0.5 --dtype f32: one binary32 rounding of dequant(C) + 0.5 R', async () => {
    const out = at('applied-half');
    await runApply({ base: at('base'), residual: at('residual'), out, scale: 0.5, dtype: 'f32' });
    const applied = await openCheckpoint(out);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['quantization_config'], undefined);
    assert.equal(config['torch_dtype'], 'float32');
    const weight = base[2]!;
    const b = dequantize(weight);
    const i = dequantize(instruct[2]!);
    sameFloat32(await readTensorValues(applied, weight.name), b.map((value, element) => Math.fround(value + 0.5 * Math.fround(i[element]! - value))), weight.name);
  });

  it('verify compares in dequantized space and names the tensors it compared so; an F64 residual verifies to the bit', async () => {
    const f32 = await runVerify({ base: at('base'), residual: at('residual'), instruct: at('instruct') });
    assert.deepEqual(f32.dequantized, fp8Names());
    assert.ok(f32.maxAbsError < 1e-6, `max error ${f32.maxAbsError}`);
    for (const tensor of f32.tensors.filter((t) => !t.name.includes('proj'))) assert.equal(tensor.identical, tensor.elements, tensor.name);
    if (!f32.ok) assert.ok(f32.issues.some((issue) => issue.rule === 'inexact-residual' && /--dtype f64/.test(issue.message)));

    await runCompute({ base: at('base'), instruct: at('instruct'), out: at('residual-f64'), dtype: 'f64' });
    const f64 = await runVerify({ base: at('base'), residual: at('residual-f64'), instruct: at('instruct') });
    assert.equal(f64.ok, true, JSON.stringify(f64.issues));
    assert.equal(f64.maxAbsError, 0);
    assert.match(describeResult(f64), /3 tensors compared dequantized \(FP8 weights times their scales, in binary32\)/);
  });

  it('a mixed pair: FP8 base, BF16 instruct; R = bf16(I) - dequant(B), and it verifies', async () => {
    const random = instruct.map((weight) => weight.values);
    const plain: TensorWithData[] = base.map((weight, index) => {
      let element = 0;
      return makeTensor(weight.name, [weight.rows, weight.columns], 'BF16', () => random[index]![element++]!);
    });
    const fp8Source = await openCheckpoint(at('instruct'));
    const others: TensorWithData[] = [];
    for (const [name, ref] of fp8Source.tensors) {
      if (ref.dtype !== 'BF16') continue;
      const values = await readTensorValues(fp8Source, name);
      let element = 0;
      others.push(makeTensor(name, ref.shape, 'BF16', () => values[element++]!));
    }
    const config = { ...fp8Config() };
    delete config['quantization_config'];
    await writeCheckpoint(at('instruct-bf16'), [...plain, ...others], { config });

    const out = at('residual-mixed');
    const result = await runCompute({ base: at('base'), instruct: at('instruct-bf16'), out });
    const residual = await openCheckpoint(out);
    const instructBf16 = await openCheckpoint(at('instruct-bf16'));
    for (const weight of base) {
      const b = dequantize(weight);
      const i = await readTensorValues(instructBf16, weight.name);
      assert.equal(residual.tensors.get(weight.name)!.dtype, 'F32');
      sameFloat32(await readTensorValues(residual, weight.name), b.map((value, element) => Math.fround(i[element]! - value)), weight.name);
    }
    assert.ok(result.issues.some((issue) => issue.rule === 'dtype-mismatch' && issue.severity === 'info'));

    await runCompute({ base: at('base'), instruct: at('instruct-bf16'), out: at('residual-mixed-f64'), dtype: 'f64' });
    const verified = await runVerify({ base: at('base'), residual: at('residual-mixed-f64'), instruct: at('instruct-bf16') });
    assert.equal(verified.ok, true, JSON.stringify(verified.issues));
    assert.deepEqual(verified.dequantized, fp8Names());
  });

  it('refuses an unknown scale layout by name through compute (unknown-scale-layout)', async () => {
    // config.json says 64 x 64 blocks; the scales are for 128 x 128.
    await writeFp8Checkpoint(at('odd'), { seed: 3, config: { quantization_config: blockQuantizationConfig([64, 64]) } });
    await assert.rejects(runCompute({ base: at('base'), instruct: at('odd'), out: at('never') }),
      (error: unknown) => isSurgeonError(error) && error.rule === 'unknown-scale-layout' && /expected \[4, 3\]|expected/.test(error.message));
  });

  it('inspect shows the quantization: method, block size, the quantized weights', async () => {
    const result = await runInspect({ path: at('base') });
    assert.deepEqual(result.quantization, {
      method: 'fp8', layout: 'block', blockSize: [128, 128], tensors: fp8Names(), readable: true,
    });
    const lines = describeInspect(result, true);
    assert.ok(lines.some((line) => line === '  quantization: fp8, block scales 128 x 128, 3 tensors quantized (read dequantized by compute, apply, verify and diff)'), lines.join('\n'));
    const plain = await runInspect({ path: at('applied') });
    assert.equal(plain.quantization, undefined);
  });

  it('diff compares the pair dequantized, as compute does: the same statistics, and the report says which sides are FP8', async () => {
    const computed = await runCompute({ base: at('base'), instruct: at('instruct'), out: at('residual-for-diff') });
    const diffed = await runDiff({ a: at('base'), b: at('instruct') });
    const { report } = diffed;
    assert.deepEqual(report.tensors, computed.report.tensors);
    assert.deepEqual(report.summary, computed.report.summary);
    assert.deepEqual(report.layers, computed.report.layers);
    assert.equal(report.tensors.some((tensor) => tensor.name.includes('scale')), false);
    for (const [index, weight] of base.entries()) {
      const b = dequantize(weight);
      const i = dequantize(instruct[index]!);
      const tensor = report.tensors.find((entry) => entry.name === weight.name)!;
      assert.equal(tensor.maxAbsDelta, Math.max(...b.map((value, element) => Math.abs(Math.fround(i[element]! - value)))), weight.name);
    }

    const side = { method: 'fp8', layout: 'block', blockSize: [128, 128], tensors: 9, quantizedTensors: fp8Names() };
    assert.deepEqual(report.quantization, { a: side, b: side });
    assert.deepEqual(computed.report.quantization, report.quantization);
    const written = JSON.parse(await readFile(join(at('residual-for-diff'), 'diff-report.json'), 'utf8')) as DiffReport;
    assert.deepEqual(written.quantization, report.quantization);
    assert.deepEqual(written.tensors, JSON.parse(JSON.stringify(report.tensors)));

    const lines = describeDiff(diffed, { top: 20 });
    for (const label of ['A', 'B']) {
      assert.ok(lines.includes(`  ${label}: fp8, block scales 128 x 128, 3 of 9 tensors quantized (compared dequantized)`), lines.join('\n'));
    }
    const card = await readFile(join(at('residual-for-diff'), 'README.md'), 'utf8');
    assert.match(card, /The base and the instruct model are FP8 \(fp8, block scales 128 x 128\): R is the difference of the dequantized weights/);
  });

  it('diff of a mixed pair reports its FP8 side only; diff of an FP8 model alone reads it dequantized; spectra read it dequantized', async () => {
    const mixed = await runDiff({ a: at('base'), b: at('instruct-bf16') });
    assert.deepEqual(Object.keys(mixed.report.quantization ?? {}), ['a']);
    assert.match(describeDiff(mixed, { top: 20 }).join('\n'), /^ {2}A: fp8, block scales 128 x 128, 3 of 9 tensors quantized \(compared dequantized\)$/m);

    const pair = await runDiff({ a: at('base'), b: at('instruct') });
    const alone = await runDiff({ a: at('base') });
    assert.equal(alone.report.residualOnly, true);
    assert.deepEqual(alone.report.quantization?.a?.quantizedTensors, fp8Names());
    assert.equal(alone.report.quantization?.b, undefined);
    for (const weight of base) {
      const norm = alone.report.tensors.find((tensor) => tensor.name === weight.name)!.deltaNorm!;
      const baseNorm = pair.report.tensors.find((tensor) => tensor.name === weight.name)!.baseNorm!;
      assert.ok(Math.abs(norm - baseNorm) <= 1e-12 * baseNorm, `${weight.name}: ${norm} vs ${baseNorm}`);
    }

    const spectra = await runDiff({ a: at('base'), b: at('instruct'), spectra: true, spectraRank: 8 });
    for (const weight of base) {
      const tensor = spectra.report.tensors.find((entry) => entry.name === weight.name)!;
      assert.ok(tensor.spectra, weight.name);
      assert.ok(Math.abs(tensor.spectra.frobeniusNorm - tensor.deltaNorm!) <= 1e-4 * tensor.deltaNorm!, `${weight.name}: ${tensor.spectra.frobeniusNorm} vs ${tensor.deltaNorm}`);
    }
  });
});

describe('apply --dtype fp8', () => {
  const scratch = scratchFolders('surgeon-fp8-out-');
  let root: string;
  let base: QuantizedWeight[];
  let instruct: QuantizedWeight[];
  const at = (name: string): string => join(root, name);

  before(async () => {
    root = await scratch();
    base = (await writeFp8Checkpoint(at('base'), { seed: 4 })).weights;
    instruct = (await writeFp8Checkpoint(at('instruct'), { seed: 5 })).weights;
    await runCompute({ base: at('base'), instruct: at('instruct'), out: at('residual') });
  });

  it('re-quantizes each 128 x 128 block of dequant(C) + R with a fresh scale, writes weight_scale_inv and keeps quantization_config', async () => {
    const out = at('fp8');
    const changed = 'model.layers.0.mlp.down_proj.weight';
    await runApply({ base: at('base'), residual: at('residual'), out, dtype: 'fp8', include: 'down_proj|o_proj|norm|embed|lm_head|gate' });
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config['quantization_config'], fp8Config()['quantization_config']);
    const applied = await openCheckpoint(out);
    const bytesOf = async (checkpoint: typeof applied, name: string): Promise<Uint8Array> => {
      const ref = checkpoint.tensors.get(name)!;
      const data = await readFile(ref.file.path);
      return new Uint8Array(data.buffer, data.byteOffset + ref.offset, ref.byteLength);
    };
    for (const [index, weight] of base.entries()) {
      const scaleName = weight.name.replace(/\.weight$/, '.weight_scale_inv');
      assert.equal(applied.tensors.get(weight.name)!.dtype, 'F8_E4M3');
      assert.deepEqual(applied.tensors.get(scaleName)!.shape, [Math.ceil(weight.rows / 128), Math.ceil(weight.columns / 128)]);
      const bytes = await bytesOf(applied, weight.name);
      const scaleBytes = await bytesOf(applied, scaleName);
      const scales = new Float32Array(scaleBytes.slice().buffer);
      if (weight.name.includes('q_proj')) {
        // Not in --include: copied with its scales, byte for byte.
        assert.deepEqual(bytes, weight.bytes);
        assert.deepEqual(scales, weight.scales);
        continue;
      }
      const b = dequantize(weight);
      const i = dequantize(instruct[index]!);
      const m = b.map((value, element) => Math.fround(value + Math.fround(i[element]! - value)));
      const scaleColumns = Math.ceil(weight.columns / 128);
      for (let row = 0; row < weight.rows; row += 128) {
        for (let column = 0; column < weight.columns; column += 128) {
          let amax = 0;
          for (let r = row; r < Math.min(row + 128, weight.rows); r++) {
            for (let c = column; c < Math.min(column + 128, weight.columns); c++) amax = Math.max(amax, Math.abs(m[r * weight.columns + c]!));
          }
          const expected = Math.fround(amax / 448) || 1;
          assert.equal(scales[(row / 128) * scaleColumns + column / 128], expected, `${weight.name} block (${row}, ${column})`);
        }
      }
      // Each element: the E4M3 value nearest |x| / scale (within half a step: 2^-4 relative for normals), times the scale.
      for (let element = 0; element < m.length; element++) {
        const row = Math.floor(element / weight.columns);
        const column = element % weight.columns;
        const scale = scales[Math.floor(row / 128) * scaleColumns + Math.floor(column / 128)]!;
        const q = m[element]! / scale;
        const decoded = decodeE4m3(bytes[element]!);
        assert.ok(Math.abs(decoded - q) <= Math.max(Math.abs(q) * 2 ** -4, 2 ** -10) * (1 + 1e-6), `${weight.name}[${element}]: ${decoded} for ${q}`);
        if (weight.name === changed && Object.is(m[element], -0)) assert.equal(bytes[element], 0x80);
      }
    }
    // The BF16 tensors keep their dtype.
    assert.equal(applied.tensors.get('model.embed_tokens.weight')!.dtype, 'BF16');
    // And the output is a checkpoint the jobs read again.
    const inspected = await runInspect({ path: out });
    assert.equal(inspected.quantization?.readable, true);
  });

  it('refuses --dtype fp8 for a target without FP8 weights', async () => {
    await assert.rejects(runApply({ base: at('residual'), residual: at('residual'), out: at('never'), dtype: 'fp8', force: true }),
      (error: unknown) => isSurgeonError(error) && error.rule === 'usage' && /--dtype fp8/.test(error.message));
  });
});
