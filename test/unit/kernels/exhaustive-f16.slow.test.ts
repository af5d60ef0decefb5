/**
 * Every binary16 bit pattern against 16 partners through subtract (F16 and F32 out), addScaled and convert:
 * WebAssembly == plain JS == scalar reference, bit for bit (NaN as "both NaN").
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadKernels, type ElementwiseKernels, type KernelBuffer } from '../../../src/engine/kernels/kernels';
import { f32BitsToBf16Bits } from '../../../src/engine/numerics/bfloat16';
import { f16ToNumber, f32BitsToF16Bits } from '../../../src/engine/numerics/float16';
import { f32ToBits } from '../../../src/engine/numerics/float-bits';
import { fmaF32 } from '../../../src/engine/numerics/fused-multiply-add';
import { differences, isNaNBits, isQuietNaNBits, seededRandom } from './kernel-test-support';

const PATTERNS = 65_536;
const SPECIAL_PARTNERS = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0x3c00];
const PARTNER_COUNT = 16;
const VALUES = Float64Array.from({ length: PATTERNS }, (_, bits) => f16ToNumber(bits));

function u16Buffer(kernels: ElementwiseKernels, values: Uint16Array): KernelBuffer {
  const buffer = kernels.allocate(values.byteLength);
  new Uint16Array(buffer.bytes.buffer, buffer.bytes.byteOffset, values.length).set(values);
  return buffer;
}

function u16Contents(buffer: KernelBuffer, count: number): Uint16Array {
  return new Uint16Array(buffer.bytes.buffer, buffer.bytes.byteOffset, count).slice();
}

describe('binary16, exhaustively', () => {
  const random = seededRandom(0xf16);
  const list = [...SPECIAL_PARTNERS];
  while (list.length < PARTNER_COUNT) list.push(Math.floor(random() * PATTERNS));
  const count = PATTERNS * list.length;
  const patterns = Uint16Array.from({ length: count }, (_, i) => i % PATTERNS);
  const partnered = Uint16Array.from({ length: count }, (_, i) => list[Math.floor(i / PATTERNS)]!);
  const describeAt = (i: number): string =>
    `pattern ${(i % PATTERNS).toString(16)} with partner ${list[Math.floor(i / PATTERNS)]!.toString(16)}`;
  let implementations: ElementwiseKernels[] = [];

  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });

  it('subtract F16 - F16 -> F16 and -> F32, both orders', () => {
    for (const [first, second] of [[patterns, partnered], [partnered, patterns]] as const) {
      const exact = Float32Array.from(first, (a, i) => VALUES[second[i]!]! - VALUES[a]!);
      const expectedF16 = Uint16Array.from(exact, (d) => f32BitsToF16Bits(f32ToBits(d)));
      const expectedF32 = new Uint32Array(exact.buffer);
      for (const kernels of implementations) {
        const a = u16Buffer(kernels, first);
        const b = u16Buffer(kernels, second);
        const out = kernels.allocate(count * 4);
        kernels.subtract(a, 'F16', b, 'F16', out, 'F16', count);
        const actual = u16Contents(out, count);
        assert.deepEqual(differences('F16', actual, expectedF16, describeAt), [], kernels.name);
        assert.ok(actual.every((bits) => !isNaNBits('F16', bits) || isQuietNaNBits('F16', bits)), 'NaN not quiet');
        kernels.subtract(a, 'F16', b, 'F16', out, 'F32', count);
        const widened = new Uint32Array(out.bytes.buffer, out.bytes.byteOffset, count);
        assert.deepEqual(differences('F32', widened, expectedF32, describeAt), [], `${kernels.name} -> F32`);
        [a, b, out].forEach((buffer) => kernels.free(buffer));
      }
    }
  });

  it('addScaled F16 + 0.3712 * F16 -> F16', () => {
    const alpha = Math.fround(0.3712);
    const expected = Uint16Array.from(patterns, (c, i) => f32BitsToF16Bits(f32ToBits(fmaF32(VALUES[partnered[i]!]!, alpha, VALUES[c]!))));
    for (const kernels of implementations) {
      const c = u16Buffer(kernels, patterns);
      const r = u16Buffer(kernels, partnered);
      const out = kernels.allocate(count * 2);
      kernels.addScaled(c, 'F16', r, 'F16', 0.3712, out, 'F16', count);
      assert.deepEqual(differences('F16', u16Contents(out, count), expected, describeAt), [], kernels.name);
      [c, r, out].forEach((buffer) => kernels.free(buffer));
    }
  });

  it('convert F16 -> BF16 and F16 -> F32 -> F16', () => {
    const every = patterns.subarray(0, PATTERNS);
    const expectedBf16 = Uint16Array.from(every, (bits) => f32BitsToBf16Bits(f32ToBits(VALUES[bits]!)));
    for (const kernels of implementations) {
      const src = u16Buffer(kernels, every);
      const out = kernels.allocate(PATTERNS * 2);
      kernels.convert(src, 'F16', out, 'BF16', PATTERNS);
      assert.deepEqual(differences('BF16', u16Contents(out, PATTERNS), expectedBf16, (i) => i.toString(16)), [], kernels.name);
      const wide = kernels.allocate(PATTERNS * 4);
      kernels.convert(src, 'F16', wide, 'F32', PATTERNS);
      kernels.convert(wide, 'F32', out, 'F16', PATTERNS);
      assert.deepEqual(differences('F16', u16Contents(out, PATTERNS), every, (i) => i.toString(16)), [], `${kernels.name} round trip`);
      [src, out, wide].forEach((buffer) => kernels.free(buffer));
    }
  });
});
