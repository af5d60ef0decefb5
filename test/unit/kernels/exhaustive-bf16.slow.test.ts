/**
 * Every bfloat16 bit pattern (65536) against 64 partners (specials and seeded random patterns), through
 * subtract, addScaled and convert: the WebAssembly and plain-JS kernels must give the scalar reference's bits
 * (NaN compared as "both NaN"), and every NaN they write must be quiet.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import { loadKernels, type ElementwiseKernels, type KernelBuffer } from '../../../src/engine/kernels/kernels';
import { bf16ToNumber, f32BitsToBf16Bits } from '../../../src/engine/numerics/bfloat16';
import { f32ToBits } from '../../../src/engine/numerics/float-bits';
import { fmaF32 } from '../../../src/engine/numerics/fused-multiply-add';
import {
  DTYPE_BYTES, differences, isNaNBits, isQuietNaNBits, readBits, referenceConvert, seededRandom, writeBits,
} from './kernel-test-support';

const PATTERNS = 65_536;
const SPECIAL_PARTNERS = [
  0x0000, 0x8000, // +0, -0
  0x0001, 0x8001, 0x007f, 0x0080, // smallest subnormals, largest subnormal, smallest normal
  0x7f7f, 0xff7f, 0x7f80, 0xff80, // largest finite, infinities
  0x7fc0, 0xffc0, 0x7f81, 0x7fff, // quiet and signalling NaNs
  0x3f80, 0xbf80, 0x3f81, 0x4000, 0x3c00, 0x3780, // 1, -1, 1 + 2^-7, 2, 2^-7, 2^-16
];
const PARTNER_COUNT = 64;
/** The reference value of every bfloat16 pattern, so that 4.2 M reference results take milliseconds. */
const VALUES = Float64Array.from({ length: PATTERNS }, (_, bits) => bf16ToNumber(bits));

function partners(): number[] {
  const random = seededRandom(0xbf16);
  const list = [...SPECIAL_PARTNERS];
  while (list.length < PARTNER_COUNT) list.push(Math.floor(random() * PATTERNS));
  return list;
}

function bf16Buffer(kernels: ElementwiseKernels, values: Uint16Array): KernelBuffer {
  const buffer = kernels.allocate(values.byteLength);
  new Uint16Array(buffer.bytes.buffer, buffer.bytes.byteOffset, values.length).set(values);
  return buffer;
}

function bf16Contents(buffer: KernelBuffer, count: number): Uint16Array {
  return new Uint16Array(buffer.bytes.buffer, buffer.bytes.byteOffset, count).slice();
}

function countLoudNaNs(dtype: FloatDtype, values: ArrayLike<number>): number {
  let loud = 0;
  for (let i = 0; i < values.length; i++) if (isNaNBits(dtype, values[i]!) && !isQuietNaNBits(dtype, values[i]!)) loud++;
  return loud;
}

describe('bfloat16, exhaustively', () => {
  const list = partners();
  const count = PATTERNS * list.length;
  // Element i is pattern i % 65536 next to partner list[i / 65536].
  const patterns = Uint16Array.from({ length: count }, (_, i) => i % PATTERNS);
  const partnered = Uint16Array.from({ length: count }, (_, i) => list[Math.floor(i / PATTERNS)]!);
  const describeAt = (i: number): string =>
    `pattern ${(i % PATTERNS).toString(16)} with partner ${list[Math.floor(i / PATTERNS)]!.toString(16)}`;
  let implementations: ElementwiseKernels[] = [];

  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });

  it('subtract BF16 - BF16 -> BF16 and -> F32, both orders', () => {
    for (const [first, second] of [[patterns, partnered], [partnered, patterns]] as const) {
      const exact = Float32Array.from(first, (a, i) => VALUES[second[i]!]! - VALUES[a]!);
      const expectedBf16 = Uint16Array.from(exact, (d) => f32BitsToBf16Bits(f32ToBits(d)));
      const expectedF32 = new Uint32Array(exact.buffer);
      for (const kernels of implementations) {
        const a = bf16Buffer(kernels, first);
        const b = bf16Buffer(kernels, second);
        const out = kernels.allocate(count * 4);
        kernels.subtract(a, 'BF16', b, 'BF16', out, 'BF16', count);
        const actual = bf16Contents(out, count);
        assert.deepEqual(differences('BF16', actual, expectedBf16, describeAt), [], kernels.name);
        assert.equal(countLoudNaNs('BF16', actual), 0, `${kernels.name}: signalling NaN written`);
        kernels.subtract(a, 'BF16', b, 'BF16', out, 'F32', count);
        const widened = new Uint32Array(out.bytes.buffer, out.bytes.byteOffset, count);
        assert.deepEqual(differences('F32', widened, expectedF32, describeAt), [], `${kernels.name} -> F32`);
        [a, b, out].forEach((buffer) => kernels.free(buffer));
      }
    }
  });

  for (const alpha of [1, 0.3712, -1.25]) {
    it(`addScaled BF16 + ${alpha} * BF16 -> BF16, both orders`, () => {
      const alpha32 = Math.fround(alpha);
      for (const [first, second] of [[patterns, partnered], [partnered, patterns]] as const) {
        const expected = new Uint16Array(count);
        for (let i = 0; i < count; i++) {
          expected[i] = f32BitsToBf16Bits(f32ToBits(fmaF32(VALUES[second[i]!]!, alpha32, VALUES[first[i]!]!)));
        }
        for (const kernels of implementations) {
          const c = bf16Buffer(kernels, first);
          const r = bf16Buffer(kernels, second);
          const out = kernels.allocate(count * 2);
          kernels.addScaled(c, 'BF16', r, 'BF16', alpha, out, 'BF16', count);
          const actual = bf16Contents(out, count);
          assert.deepEqual(differences('BF16', actual, expected, describeAt), [], `${kernels.name} alpha ${alpha}`);
          assert.equal(countLoudNaNs('BF16', actual), 0, `${kernels.name}: signalling NaN written`);
          [c, r, out].forEach((buffer) => kernels.free(buffer));
        }
      }
    });
  }

  it('convert BF16 to F16, F32, F64 and back', () => {
    const every = patterns.subarray(0, PATTERNS);
    for (const outDtype of ['F16', 'F32', 'F64'] as FloatDtype[]) {
      const expected = Array.from(every, (bits) => referenceConvert('BF16', bits, outDtype));
      for (const kernels of implementations) {
        const src = bf16Buffer(kernels, every);
        const out = kernels.allocate(PATTERNS * DTYPE_BYTES[outDtype]);
        kernels.convert(src, 'BF16', out, outDtype, PATTERNS);
        const widened = readBits(out, outDtype, PATTERNS);
        assert.deepEqual(differences(outDtype, widened, expected, (i) => i.toString(16)), [], `${kernels.name} -> ${outDtype}`);
        // F32 and F64 hold every bfloat16 exactly: converting back gives the same bits, NaNs included.
        if (outDtype !== 'F16') {
          const back = kernels.allocate(PATTERNS * 2);
          writeBits(back, 'BF16', new Uint16Array(PATTERNS).fill(0x1234));
          kernels.convert(out, outDtype, back, 'BF16', PATTERNS);
          const roundTrip = bf16Contents(back, PATTERNS);
          assert.deepEqual(differences('BF16', roundTrip, every, (i) => i.toString(16)), [], `${kernels.name} via ${outDtype}`);
          kernels.free(back);
        }
        [src, out].forEach((buffer) => kernels.free(buffer));
      }
    }
  });
});
