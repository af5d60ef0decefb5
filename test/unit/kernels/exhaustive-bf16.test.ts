/**
 * Every bfloat16 bit pattern (65536) against 64 partners (specials and seeded random patterns), through
 * subtract, addScaled and convert: the WebAssembly and plain-JS kernels must give the scalar reference's bits
 * (NaN compared as "both NaN"), and every NaN they write must be quiet.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { FloatDtype } from '../../../src/engine/format/dtype';
import { loadKernels, type ElementwiseKernels } from '../../../src/engine/kernels/kernels';
import { bf16ToNumber } from '../../../src/engine/numerics/bfloat16';
import { fmaF32 } from '../../../src/engine/numerics/fused-multiply-add';
import {
  bitsOf, bufferOf, DTYPE_BYTES, differences, isNaNBits, isQuietNaNBits, readBits, referenceConvert, seededRandom,
  type ElementBits,
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

/** Pattern i of segment s is i; its partner is partners[s]. */
function allPairs(list: number[]): { patterns: number[]; partnered: number[] } {
  const patterns: number[] = new Array(PATTERNS * list.length);
  const partnered: number[] = new Array(PATTERNS * list.length);
  list.forEach((partner, segment) => {
    for (let i = 0; i < PATTERNS; i++) {
      patterns[segment * PATTERNS + i] = i;
      partnered[segment * PATTERNS + i] = partner;
    }
  });
  return { patterns, partnered };
}

function assertQuietNaNs(dtype: FloatDtype, values: ElementBits[], label: string): void {
  const loud = values.findIndex((bits) => isNaNBits(dtype, bits) && !isQuietNaNBits(dtype, bits));
  assert.equal(loud, -1, `${label}: signalling NaN written at ${loud}`);
}

describe('bfloat16, exhaustively', () => {
  const list = partners();
  const { patterns, partnered } = allPairs(list);
  const count = patterns.length;
  const describeAt = (i: number): string =>
    `pattern ${(i % PATTERNS).toString(16)} with partner ${list[Math.floor(i / PATTERNS)]!.toString(16)}`;
  let implementations: ElementwiseKernels[] = [];

  before(async () => {
    implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  });

  for (const outDtype of ['BF16', 'F32'] as FloatDtype[]) {
    it(`subtract BF16 - BF16 -> ${outDtype}, both orders`, () => {
      for (const [first, second] of [[patterns, partnered], [partnered, patterns]] as const) {
        const expected = first.map((a, i) => bitsOf(outDtype, Math.fround(VALUES[second[i]!]! - VALUES[a]!)));
        for (const kernels of implementations) {
          const a = bufferOf(kernels, 'BF16', first);
          const b = bufferOf(kernels, 'BF16', second);
          const out = kernels.allocate(count * DTYPE_BYTES[outDtype]);
          kernels.subtract(a, 'BF16', b, 'BF16', out, outDtype, count);
          const actual = readBits(out, outDtype, count);
          assert.deepEqual(differences(outDtype, actual, expected, describeAt), [], kernels.name);
          assertQuietNaNs(outDtype, actual, kernels.name);
          [a, b, out].forEach((buffer) => kernels.free(buffer));
        }
      }
    });
  }

  for (const alpha of [1, 0.5, -1.25, 0.3712, 3.0e-5]) {
    it(`addScaled BF16 + ${alpha} * BF16 -> BF16, both orders`, () => {
      for (const [first, second] of [[patterns, partnered], [partnered, patterns]] as const) {
        const alpha32 = Math.fround(alpha);
        const expected = first.map((c, i) => bitsOf('BF16', fmaF32(VALUES[second[i]!]!, alpha32, VALUES[c]!)));
        for (const kernels of implementations) {
          const c = bufferOf(kernels, 'BF16', first);
          const r = bufferOf(kernels, 'BF16', second);
          const out = kernels.allocate(count * 2);
          kernels.addScaled(c, 'BF16', r, 'BF16', alpha, out, 'BF16', count);
          const actual = readBits(out, 'BF16', count);
          assert.deepEqual(differences('BF16', actual, expected, describeAt), [], `${kernels.name} alpha ${alpha}`);
          assertQuietNaNs('BF16', actual, kernels.name);
          [c, r, out].forEach((buffer) => kernels.free(buffer));
        }
      }
    });
  }

  it('convert BF16 to F16, F32, F64 and back', () => {
    const every = patterns.slice(0, PATTERNS);
    for (const outDtype of ['F16', 'F32', 'F64'] as FloatDtype[]) {
      const expected = every.map((bits) => referenceConvert('BF16', bits, outDtype));
      for (const kernels of implementations) {
        const src = bufferOf(kernels, 'BF16', every);
        const out = kernels.allocate(PATTERNS * DTYPE_BYTES[outDtype]);
        kernels.convert(src, 'BF16', out, outDtype, PATTERNS);
        const widened = readBits(out, outDtype, PATTERNS);
        assert.deepEqual(differences(outDtype, widened, expected, (i) => i.toString(16)), [], `${kernels.name} -> ${outDtype}`);
        // F32 and F64 hold every bfloat16 exactly: converting back gives the same bits, NaNs included.
        if (outDtype !== 'F16') {
          const back = kernels.allocate(PATTERNS * 2);
          kernels.convert(out, outDtype, back, 'BF16', PATTERNS);
          const roundTrip = readBits(back, 'BF16', PATTERNS);
          const changed = roundTrip.filter((bits, i) => bits !== every[i] && !(isNaNBits('BF16', bits) && isNaNBits('BF16', every[i]!)));
          assert.deepEqual(changed, [], `${kernels.name} round trip through ${outDtype}`);
          kernels.free(back);
        }
        [src, out].forEach((buffer) => kernels.free(buffer));
      }
    }
  });
});
