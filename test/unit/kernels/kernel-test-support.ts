/** Shared pieces of the kernel tests: seeded data, typed access to kernel buffers, NaN-aware bit comparison. */
import type { FloatDtype } from '../../../src/engine/format/dtype';
import type { ElementwiseKernels, KernelBuffer } from '../../../src/engine/kernels/kernels';

export const DTYPE_BYTES: Record<FloatDtype, number> = { BF16: 2, F16: 2, F32: 4, F64: 8 };
export const FLOAT_DTYPES: FloatDtype[] = ['BF16', 'F16', 'F32', 'F64'];

/** Mulberry32: a small seeded generator, so failures reproduce. */
export { mulberry32 as seededRandom } from '../../helpers/make-checkpoint';

/** Stored bits of one element: a number for 16/32-bit dtypes, a bigint for F64. */
export type ElementBits = number | bigint;

export function writeBits(buffer: KernelBuffer, dtype: FloatDtype, values: ArrayLike<ElementBits>): void {
  const view = new DataView(buffer.bytes.buffer, buffer.bytes.byteOffset, buffer.bytes.byteLength);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    if (dtype === 'F64') view.setBigUint64(i * 8, BigInt(value), true);
    else if (dtype === 'F32') view.setUint32(i * 4, Number(value), true);
    else view.setUint16(i * 2, Number(value), true);
  }
}

export function readBits(buffer: Pick<KernelBuffer, 'bytes'>, dtype: FloatDtype, count: number): ElementBits[] {
  const view = new DataView(buffer.bytes.buffer, buffer.bytes.byteOffset, buffer.bytes.byteLength);
  const out: ElementBits[] = new Array(count);
  for (let i = 0; i < count; i++) {
    if (dtype === 'F64') out[i] = view.getBigUint64(i * 8, true);
    else if (dtype === 'F32') out[i] = view.getUint32(i * 4, true);
    else out[i] = view.getUint16(i * 2, true);
  }
  return out;
}

export function isNaNBits(dtype: FloatDtype, bits: ElementBits): boolean {
  switch (dtype) {
    case 'BF16': return (Number(bits) & 0x7fff) > 0x7f80;
    case 'F16': return (Number(bits) & 0x7fff) > 0x7c00;
    case 'F32': return (Number(bits) & 0x7fff_ffff) > 0x7f80_0000;
    case 'F64': return (BigInt(bits) & 0x7fff_ffff_ffff_ffffn) > 0x7ff0_0000_0000_0000n;
  }
}

export function isQuietNaNBits(dtype: FloatDtype, bits: ElementBits): boolean {
  switch (dtype) {
    case 'BF16': return (Number(bits) & 0x40) !== 0;
    case 'F16': return (Number(bits) & 0x200) !== 0;
    case 'F32': return (Number(bits) & 0x40_0000) !== 0;
    case 'F64': return (BigInt(bits) & 0x8_0000_0000_0000n) !== 0n;
  }
}

/** Equal bits, or both NaN (which NaN payload comes out is not specified, as in PyTorch). */
function sameElement(dtype: FloatDtype, x: ElementBits, y: ElementBits): boolean {
  return x === y || (isNaNBits(dtype, x) && isNaNBits(dtype, y));
}

/** Indexes where `actual` differs from `expected`, with a readable description of the first few. */
export function differences(
  dtype: FloatDtype, actual: ArrayLike<ElementBits>, expected: ArrayLike<ElementBits>, describe: (i: number) => string,
): string[] {
  const found: string[] = [];
  let total = 0;
  for (let i = 0; i < expected.length; i++) {
    if (sameElement(dtype, actual[i]!, expected[i]!)) continue;
    total++;
    if (found.length < 8) found.push(`${describe(i)}: got ${actual[i]!.toString(16)}, expected ${expected[i]!.toString(16)}`);
  }
  if (total > found.length) found.push(`... ${total} differences in all`);
  return found;
}

/** Allocates a buffer holding `values` (as `dtype` bits). */
export function bufferOf(kernels: ElementwiseKernels, dtype: FloatDtype, values: ArrayLike<ElementBits>): KernelBuffer {
  const buffer = kernels.allocate(values.length * DTYPE_BYTES[dtype]);
  writeBits(buffer, dtype, values);
  return buffer;
}

// The scalar reference, built on src/engine/numerics (tested on its own in test/unit/numerics).
import { bf16ToNumber, f32BitsToBf16Bits } from '../../../src/engine/numerics/bfloat16';
import { f16ToNumber, f32BitsToF16Bits } from '../../../src/engine/numerics/float16';
import { bitsToF32, f32ToBits } from '../../../src/engine/numerics/float-bits';
import { fmaF32, fmaF64 } from '../../../src/engine/numerics/fused-multiply-add';

const f64Scratch = new DataView(new ArrayBuffer(8));

/** The value of stored bits. */
export function valueOf(dtype: FloatDtype, bits: ElementBits): number {
  switch (dtype) {
    case 'BF16': return bf16ToNumber(Number(bits));
    case 'F16': return f16ToNumber(Number(bits));
    case 'F32': return bitsToF32(Number(bits));
    case 'F64':
      f64Scratch.setBigUint64(0, BigInt(bits));
      return f64Scratch.getFloat64(0);
  }
}

/** Stored bits of `value` (rounded to binary32 first unless `dtype` is F64). */
export function bitsOf(dtype: FloatDtype, value: number): ElementBits {
  switch (dtype) {
    case 'BF16': return f32BitsToBf16Bits(f32ToBits(value));
    case 'F16': return f32BitsToF16Bits(f32ToBits(value));
    case 'F32': return f32ToBits(value);
    case 'F64':
      f64Scratch.setFloat64(0, value);
      return f64Scratch.getBigUint64(0);
  }
}

export function referenceSubtract(
  aDtype: FloatDtype, a: ElementBits, bDtype: FloatDtype, b: ElementBits, outDtype: FloatDtype,
): ElementBits {
  // Any F64 operand promotes the arithmetic to binary64 (PyTorch's type promotion); a narrower output
  // is rounded through binary32, as `.to(dtype)` does.
  if (aDtype === 'F64' || bDtype === 'F64' || outDtype === 'F64') return bitsOf(outDtype, throughBinary32(outDtype, valueOf(bDtype, b) - valueOf(aDtype, a)));
  return bitsOf(outDtype, Math.fround(Math.fround(valueOf(bDtype, b)) - Math.fround(valueOf(aDtype, a))));
}

export function referenceAddScaled(
  cDtype: FloatDtype, c: ElementBits, rDtype: FloatDtype, r: ElementBits, alpha: number, outDtype: FloatDtype,
): ElementBits {
  if (cDtype === 'F64' || rDtype === 'F64' || outDtype === 'F64') {
    return bitsOf(outDtype, throughBinary32(outDtype, fmaF64(valueOf(rDtype, r), alpha, valueOf(cDtype, c))));
  }
  return bitsOf(outDtype, fmaF32(Math.fround(valueOf(rDtype, r)), Math.fround(alpha), Math.fround(valueOf(cDtype, c))));
}

function throughBinary32(outDtype: FloatDtype, value: number): number {
  return outDtype === 'F64' ? value : Math.fround(value);
}

export function referenceConvert(srcDtype: FloatDtype, src: ElementBits, outDtype: FloatDtype): ElementBits {
  if (srcDtype === outDtype) return src;
  return bitsOf(outDtype, Math.fround(valueOf(srcDtype, src)));
}
