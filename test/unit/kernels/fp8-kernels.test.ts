/**
 * The FP8 kernels: WebAssembly == plain JS == a scalar reference written here from the formats' definitions, across
 * all byte patterns, random data, counts that are not multiples of the SIMD width, odd buffer offsets and pieces of a
 * matrix cut anywhere.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { loadKernels, type ElementwiseKernels, type KernelBuffer } from '../../../src/engine/kernels/kernels';
import type { Fp8ScaleGrid } from '../../../src/engine/kernels/kernel-types';
import { addScaledOperands, floatOperand, subtractOperands, type KernelOperand } from '../../../src/engine/kernels/fp8-operands';
import { bitsToF32, f32ToBits } from '../../../src/engine/numerics/float-bits';
import type { Fp8Dtype } from '../../../src/engine/numerics/float8';
import { fmaF32 } from '../../../src/engine/numerics/fused-multiply-add';
import { seededRandom } from './kernel-test-support';

/** The value of an FP8 byte from the format's definition. */
function decode(dtype: Fp8Dtype, byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  if (dtype === 'F8_E4M3') {
    const exponent = (byte >> 3) & 0xf;
    const mantissa = byte & 0x7;
    if (exponent === 15 && mantissa === 7) return Number.NaN;
    return sign * (exponent === 0 ? (mantissa / 8) * Math.pow(2, -6) : (1 + mantissa / 8) * Math.pow(2, exponent - 7));
  }
  const exponent = (byte >> 2) & 0x1f;
  const mantissa = byte & 0x3;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : Number.NaN;
  return sign * (exponent === 0 ? (mantissa / 4) * Math.pow(2, -14) : (1 + mantissa / 4) * Math.pow(2, exponent - 15));
}

/** The binary32 bits the kernels must write for `byte` times `scale`: one rounded product; NaN bytes the quiet NaN with their sign. */
function referenceDequantize(dtype: Fp8Dtype, byte: number, scale: number): number {
  const value = decode(dtype, byte);
  if (Number.isNaN(value)) return ((byte & 0x80) << 24 | 0x7fc0_0000) >>> 0;
  return f32ToBits(Math.fround(value * Math.fround(scale)));
}

const POSITIVE_E4M3 = Array.from({ length: 0x7f }, (_, byte) => decode('F8_E4M3', byte));

/** The E4M3 byte nearest to the non-negative binary32 `value` (ties to the even byte), saturating at 448; NaN 0x7F. */
function nearestE4m3(value: number): number {
  if (Number.isNaN(value)) return 0x7f;
  if (value >= 448) return 0x7e;
  let best = 0;
  for (let byte = 1; byte < POSITIVE_E4M3.length; byte++) {
    const distance = Math.abs(POSITIVE_E4M3[byte]! - value);
    const bestDistance = Math.abs(POSITIVE_E4M3[best]! - value);
    if (distance < bestDistance || (distance === bestDistance && byte % 2 === 0)) best = byte;
  }
  return best;
}

/** Block quantization by its definition: scale = amax / 448 in binary32 (1 where 0), byte = nearest(|x| / scale) with the sign of x. */
function referenceQuantize(values: Float32Array, rows: number, columns: number, blockRows: number, blockColumns: number): { bytes: Uint8Array; scales: Uint32Array } {
  const scaleColumns = Math.ceil(columns / blockColumns);
  const scaleRows = Math.ceil(rows / blockRows);
  const scales = new Uint32Array(scaleRows * scaleColumns);
  const bytes = new Uint8Array(rows * columns);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < scaleRows; i++) {
    for (let j = 0; j < scaleColumns; j++) {
      let amax = 0;
      let nan = false;
      for (let row = i * blockRows; row < Math.min(rows, (i + 1) * blockRows); row++) {
        for (let column = j * blockColumns; column < Math.min(columns, (j + 1) * blockColumns); column++) {
          const magnitude = Math.abs(values[row * columns + column]!);
          if (Number.isNaN(magnitude)) nan = true;
          else amax = Math.max(amax, magnitude);
        }
      }
      let scale = Math.fround(amax / 448);
      if (scale === 0) scale = 1;
      scales[i * scaleColumns + j] = nan ? 0x7fc0_0000 : f32ToBits(scale);
      for (let row = i * blockRows; row < Math.min(rows, (i + 1) * blockRows); row++) {
        for (let column = j * blockColumns; column < Math.min(columns, (j + 1) * blockColumns); column++) {
          const index = row * columns + column;
          const quotient = nan ? Number.NaN : Math.fround(Math.abs(values[index]!) / scale);
          bytes[index] = ((bits[index]! >>> 24) & 0x80) | nearestE4m3(quotient);
        }
      }
    }
  }
  return { bytes, scales };
}

/** Random bytes with every pattern present. */
function randomBytes(count: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length: count }, (_, i) => (i < 256 && count >= 512 ? i : Math.floor(random() * 256)));
}

/**
 * Bytes as a checkpoint holds them: normal values, with a special one (zero, subnormal, NaN, infinity) here and there,
 * so that most groups of 16 take the kernels' short path and some do not.
 */
function weightLikeBytes(dtype: Fp8Dtype, count: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const specials = dtype === 'F8_E4M3' ? [0x00, 0x80, 0x01, 0x87, 0x7f, 0xff, 0x08, 0x7e] : [0x00, 0x80, 0x02, 0x7c, 0xfc, 0x7d, 0xff, 0x04, 0x7b];
  const [low, high] = dtype === 'F8_E4M3' ? [0x08, 0x7e] : [0x04, 0x7b];
  return Uint8Array.from({ length: count }, () => (random() < 0.01
    ? specials[Math.floor(random() * specials.length)]!
    : (random() < 0.5 ? 0x80 : 0) | (low + Math.floor(random() * (high - low + 1)))));
}

/** A buffer of `byteLength` bytes starting `offset` bytes into an allocation (odd offsets give unaligned F32 views). */
function placed(kernels: ElementwiseKernels, byteLength: number, offset: number): KernelBuffer {
  return kernels.allocate(offset + byteLength).view(offset, byteLength);
}

function u32Of(buffer: KernelBuffer, count: number): Uint32Array {
  const copy = new Uint8Array(count * 4);
  copy.set(buffer.bytes.subarray(0, count * 4));
  return new Uint32Array(copy.buffer);
}

function f32Buffer(kernels: ElementwiseKernels, values: Float32Array, offset = 0): KernelBuffer {
  const buffer = placed(kernels, values.byteLength, offset);
  buffer.bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return buffer;
}

function grid(kernels: ElementwiseKernels, scales: Float32Array, columns: number, blockRows: number, blockColumns: number): Fp8ScaleGrid {
  return { scales: f32Buffer(kernels, scales), columns, blockRows, blockColumns };
}

function firstDifferences(actual: ArrayLike<number>, expected: ArrayLike<number>, describe: (i: number) => string): string[] {
  const found: string[] = [];
  for (let i = 0; i < expected.length && found.length < 6; i++) {
    if (actual[i] !== expected[i]) found.push(`${describe(i)}: got ${actual[i]!.toString(16)}, expected ${expected[i]!.toString(16)}`);
  }
  return found;
}

const isNaNBits = (bits: number): boolean => (bits & 0x7fff_ffff) > 0x7f80_0000;

const SCALES = [1, 0.5, 3.0517578125e-5, 1.234e-4, 7.3e-3, 2.5, 1e-40, 3e36, -0.75, 0];

describe('FP8 kernels', () => {
  let implementations: ElementwiseKernels[] = [];
  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });

  it('dequantizeFp8: every pattern, every count up to 40, odd offsets and scales, both formats', () => {
    for (const dtype of ['F8_E4M3', 'F8_E5M2'] as const) {
      for (const count of [...Array.from({ length: 41 }, (_, i) => i), 255, 1000 + 3, 4096 + 17]) {
        for (const bytes of [randomBytes(count, count + 1), weightLikeBytes(dtype, count, count)]) for (const scale of SCALES) {
          const expected = Uint32Array.from(bytes, (byte) => referenceDequantize(dtype, byte, scale));
          for (const kernels of implementations) {
            for (const offset of [0, 1, 3]) {
              const src = placed(kernels, count, offset);
              src.bytes.set(bytes);
              const out = placed(kernels, count * 4, offset * 2);
              kernels.dequantizeFp8(src, dtype, out, count, scale);
              const label = `${kernels.name} ${dtype} count ${count} scale ${scale} offset ${offset}`;
              // A NaN byte gives exactly the quiet NaN with its sign; a NaN product (infinity times a zero scale) any NaN.
              const actual = u32Of(out, count).map((bits, i) => (isNaNBits(bits) && isNaNBits(expected[i]!) && !Number.isNaN(decode(dtype, bytes[i]!)) ? expected[i]! : bits));
              assert.deepEqual(firstDifferences(actual, expected, (i) => `byte ${bytes[i]!.toString(16)}`), [], label);
            }
          }
        }
      }
    }
  });

  it('dequantizeFp8Blocks: pieces of a matrix cut anywhere, in 128 x 128 blocks, per channel and per tensor', () => {
    const random = seededRandom(5);
    for (const [rows, columns] of [[200, 130], [300, 257], [7, 5], [129, 128]] as const) {
      const bytes = randomBytes(rows * columns, rows);
      const layouts: Array<[string, number, number]> = [['block', 128, 128], ['per-channel', 1, columns], ['per-tensor', rows, columns], ['odd blocks', 3, 7]];
      for (const [layout, blockRows, blockColumns] of layouts) {
        const scaleRows = Math.ceil(rows / blockRows);
        const scaleColumns = Math.ceil(columns / blockColumns);
        const scales = Float32Array.from({ length: scaleRows * scaleColumns }, () => Math.fround(2 ** (random() * 20 - 14)));
        const scaleAt = (index: number): number => {
          const row = Math.floor(index / columns);
          const column = index % columns;
          return scales[Math.floor(row / blockRows) * scaleColumns + Math.floor(column / blockColumns)]!;
        };
        for (const dtype of ['F8_E4M3', 'F8_E5M2'] as const) {
          const expected = Uint32Array.from(bytes, (byte, index) => referenceDequantize(dtype, byte, scaleAt(index)));
          const cuts = [[0, rows * columns], [0, 1], [columns - 1, 3], [127, 130], [rows * columns - 9, 9]]
            .filter(([first, count]) => first! + count! <= rows * columns);
          for (let i = 0; i < 6; i++) {
            const first = Math.floor(random() * rows * columns);
            cuts.push([first, Math.floor(random() * (rows * columns - first + 1))]);
          }
          for (const kernels of implementations) {
            const scaleGrid = grid(kernels, scales, columns, blockRows, blockColumns);
            for (const [first, count] of cuts as Array<[number, number]>) {
              const src = placed(kernels, count, first % 3);
              src.bytes.set(bytes.subarray(first, first + count));
              const out = placed(kernels, count * 4, 2);
              kernels.dequantizeFp8Blocks(src, dtype, out, count, first, scaleGrid);
              const label = `${kernels.name} ${dtype} [${rows}, ${columns}] ${layout} elements ${first}..${first + count}`;
              assert.deepEqual(firstDifferences(u32Of(out, count), expected.subarray(first, first + count), (i) => `element ${first + i}`), [], label);
            }
          }
        }
      }
    }
  });

  it('quantizeE4m3Blocks: bit-exact with the definition, within half an E4M3 step of each value', () => {
    for (const [rows, columns, blockRows, blockColumns] of [[200, 130, 128, 128], [300, 257, 128, 128], [5, 33, 2, 8], [1, 1, 128, 128]] as const) {
      const random = seededRandom(rows * 31 + columns);
      const values = Float32Array.from({ length: rows * columns }, (_, i) => {
        const magnitude = 2 ** (((Math.floor(i / columns / blockRows) * 5 + Math.floor((i % columns) / blockColumns)) % 9) - 6);
        const u = random();
        return u < 0.02 ? 0 : u < 0.03 ? -0 : u < 0.05 ? (random() - 0.5) * magnitude * 1e-5 : (random() * 2 - 1) * magnitude;
      });
      const expected = referenceQuantize(values, rows, columns, blockRows, blockColumns);
      const scaleCount = Math.ceil(rows / blockRows) * Math.ceil(columns / blockColumns);
      for (const kernels of implementations) {
        const src = f32Buffer(kernels, values, 4);
        const out = placed(kernels, rows * columns, 1);
        const scales = placed(kernels, scaleCount * 4, 0);
        const nonFinite = kernels.quantizeE4m3Blocks(src, out, rows, { scales, columns, blockRows, blockColumns });
        const label = `${kernels.name} [${rows}, ${columns}] in blocks of ${blockRows} x ${blockColumns}`;
        assert.equal(nonFinite, 0, label);
        assert.deepEqual(firstDifferences(u32Of(scales, scaleCount), expected.scales, (i) => `scale ${i}`), [], label);
        assert.deepEqual(firstDifferences(out.bytes, expected.bytes, (i) => `element ${i} (${values[i]})`), [], label);
        // Dequantized, each value is within half a step of E4M3 at its magnitude, times the scale (plus binary32 rounding).
        const scaleValues = new Float32Array(u32Of(scales, scaleCount).buffer);
        const back = placed(kernels, rows * columns * 4, 0);
        kernels.dequantizeFp8Blocks(out, 'F8_E4M3', back, rows * columns, 0, { scales, columns, blockRows, blockColumns });
        const restored = new Float32Array(u32Of(back, rows * columns).buffer);
        for (let i = 0; i < values.length; i++) {
          const scale = scaleValues[Math.floor(Math.floor(i / columns) / blockRows) * Math.ceil(columns / blockColumns) + Math.floor((i % columns) / blockColumns)]!;
          const q = Math.abs(values[i]!) / scale;
          const step = q < 2 ** -6 ? 2 ** -9 : 2 ** (Math.floor(Math.log2(q)) - 3);
          const bound = (step / 2) * scale + Math.abs(values[i]!) * 2 ** -22 + 2 ** -149;
          assert.ok(Math.abs(restored[i]! - values[i]!) <= bound, `${label}: element ${i}: ${values[i]} came back as ${restored[i]}`);
          assert.equal(Math.sign(restored[i]!) * Math.sign(values[i]!) >= 0, true);
        }
      }
    }
  });

  it('quantizeE4m3Blocks: zero blocks, tiny blocks, saturation, infinities and NaN', () => {
    const rows = 3;
    const columns = 20;
    // Blocks of 3 x 4: [zeros and -0], [tiny: amax / 448 underflows], [values whose quotient passes 448], [infinity], [NaN].
    const values = new Float32Array(rows * columns);
    for (let row = 0; row < rows; row++) {
      values.set([0, -0, 0, -0], row * columns);
      values.set([1e-44, -2e-45, 0, 1e-45], row * columns + 4);
      values.set([3.4e38, -3.4e38, 1.7e38, 1], row * columns + 8);
      values.set([row === 1 ? Infinity : 1, -2, 3, 0], row * columns + 12);
      values.set([row === 2 ? -Number.NaN : 1, -2, 3, -0], row * columns + 16);
    }
    const expected = referenceQuantize(values, rows, columns, 3, 4);
    for (const kernels of implementations) {
      const src = f32Buffer(kernels, values);
      const out = kernels.allocate(rows * columns);
      const scales = kernels.allocate(5 * 4);
      const nonFinite = kernels.quantizeE4m3Blocks(src, out, rows, { scales, columns, blockRows: 3, blockColumns: 4 });
      const scaleBits = u32Of(scales, 5);
      assert.equal(nonFinite, 2, `${kernels.name}: the infinity and the NaN blocks`);
      assert.deepEqual([...scaleBits].map((bits) => bitsToF32(bits)), [1, 1, Math.fround(3.4e38 / 448), Infinity, Number.NaN]);
      assert.deepEqual([...scaleBits], [...expected.scales], kernels.name);
      const firstRow = [...out.bytes.subarray(0, columns)];
      assert.deepEqual(firstRow.slice(0, 4), [0x00, 0x80, 0x00, 0x80], `${kernels.name}: zeros keep their sign`);
      assert.deepEqual(firstRow.slice(4, 8), [0x00, 0x80, 0x00, 0x00], `${kernels.name}: a tiny block quantizes with scale 1`);
      assert.deepEqual(firstRow.slice(8, 10), [0x7e, 0xfe], `${kernels.name}: amax maps to ±448`);
      assert.deepEqual([...out.bytes.subarray(columns + 12, columns + 16)], [0x7f, 0x80, 0x00, 0x00], `${kernels.name}: infinity over infinity is NaN`);
      assert.deepEqual([...out.bytes.subarray(2 * columns + 16, 2 * columns + 20)], [0xff, 0xff, 0x7f, 0xff], `${kernels.name}: a NaN block`);
      assert.deepEqual(firstDifferences(out.bytes, expected.bytes, (i) => `element ${i}`), [], kernels.name);
    }
  });

  it('quantizeE4m3Blocks: a quotient just past 448 saturates', () => {
    // amax / 448 rounds down for this amax, so amax / scale lands just above 448 and must saturate, not become NaN.
    let bits = f32ToBits(1);
    while (Math.fround(bitsToF32(bits) / Math.fround(bitsToF32(bits) / 448)) <= 448) bits++;
    const amax = bitsToF32(bits);
    for (const kernels of implementations) {
      const src = f32Buffer(kernels, Float32Array.of(amax, -amax, amax / 2));
      const out = kernels.allocate(3);
      const scales = kernels.allocate(4);
      kernels.quantizeE4m3Blocks(src, out, 1, { scales, columns: 3, blockRows: 1, blockColumns: 3 });
      assert.deepEqual([...out.bytes], [0x7e, 0xfe, 0x76], `${kernels.name}: ${amax}`);
    }
  });

  it('subtractOperands and addScaledOperands dequantize FP8 operands, then one binary32 operation', () => {
    const rows = 9;
    const columns = 130;
    const count = rows * columns;
    const base = randomBytes(count, 1).map((byte) => ((byte & 0x7f) === 0x7f ? 0 : byte));
    const instruct = randomBytes(count, 2).map((byte) => ((byte & 0x7f) === 0x7f ? 0 : byte));
    const baseScales = Float32Array.of(0.001, 0.0007);
    const instructScales = Float32Array.of(0.0011, 0.0003);
    const scaleOf = (scales: Float32Array, index: number): number => scales[(index % columns) >> 7]!;
    const alpha = 0.3;
    const valueOf = (bytes: Uint8Array, scales: Float32Array, index: number): number => Math.fround(decode('F8_E4M3', bytes[index]!) * scaleOf(scales, index));
    for (const kernels of implementations) {
      const operand = (bytes: Uint8Array, scales: Float32Array): KernelOperand => {
        const buffer = kernels.allocate(count);
        buffer.bytes.set(bytes);
        return { buffer, dtype: 'F8_E4M3', grid: grid(kernels, scales, columns, 128, 128) };
      };
      const [b, i] = [operand(base, baseScales), operand(instruct, instructScales)];
      const scratch = [kernels.allocate(count * 4), kernels.allocate(count * 4)] as const;
      const first = 2 * columns + 5;
      const piece = count - first;
      const view = (o: typeof b): typeof b => ({ ...o, buffer: o.buffer.view(first, piece) });
      const out = kernels.allocate(piece * 4);
      subtractOperands(kernels, view(b), view(i), out, 'F32', piece, first, scratch);
      const expected = Uint32Array.from({ length: piece }, (_, k) => f32ToBits(Math.fround(valueOf(instruct, instructScales, first + k) - valueOf(base, baseScales, first + k))));
      assert.deepEqual(firstDifferences(u32Of(out, piece), expected, (k) => `element ${first + k}`), [], `${kernels.name} subtract`);
      addScaledOperands(kernels, view(b), view(i), alpha, out, 'F32', piece, first, scratch);
      const sum = Uint32Array.from({ length: piece }, (_, k) => f32ToBits(fmaF32(valueOf(instruct, instructScales, first + k), Math.fround(alpha), valueOf(base, baseScales, first + k))));
      assert.deepEqual(firstDifferences(u32Of(out, piece), sum, (k) => `element ${first + k}`), [], `${kernels.name} addScaled`);
      // Float operands pass through; an FP8 one without its grid is refused.
      const plain = kernels.allocate(8);
      assert.deepEqual(floatOperand(kernels, { buffer: plain, dtype: 'BF16' }, 4, 0, scratch[0]), { buffer: plain, dtype: 'BF16' });
      assert.throws(() => floatOperand(kernels, { buffer: plain, dtype: 'F8_E4M3' }, 4, 0, scratch[0]), /needs the grid of its scales/);
    }
  });

  it('refuses other dtypes, short buffers and grids without enough scales', () => {
    for (const kernels of implementations) {
      const src = kernels.allocate(16);
      const out = kernels.allocate(64);
      const refused = (rule: string, run: () => void): void => {
        assert.throws(run, (error: unknown) => isSurgeonError(error) && error.rule === rule, `${kernels.name}: ${rule}`);
      };
      refused('dtype-mismatch', () => kernels.dequantizeFp8(src, 'F8_E4M3FNUZ' as Fp8Dtype, out, 16, 1));
      refused('usage', () => kernels.dequantizeFp8(src, 'F8_E4M3', out, 17, 1));
      refused('usage', () => kernels.dequantizeFp8(src, 'F8_E4M3', kernels.allocate(60), 16, 1));
      const scales = kernels.allocate(4);
      refused('usage', () => kernels.dequantizeFp8Blocks(src, 'F8_E4M3', out, 16, 0, { scales, columns: 8, blockRows: 1, blockColumns: 8 }));
      refused('usage', () => kernels.dequantizeFp8Blocks(src, 'F8_E4M3', out, 16, 0, { scales, columns: 0, blockRows: 1, blockColumns: 8 }));
      refused('usage', () => kernels.quantizeE4m3Blocks(out, src, 2, { scales, columns: 8, blockRows: 1, blockColumns: 8 }));
      assert.equal(kernels.quantizeE4m3Blocks(out, src, 2, { scales: kernels.allocate(8), columns: 8, blockRows: 1, blockColumns: 8 }), 0);
    }
  });
});
