/**
 * Block conversions of the plain-JS kernels between stored dtypes and binary32 bits in a scratch block.
 * Written independently of src/engine/numerics (which the tests use as the reference) and bit-identical to
 * the WebAssembly kernels.
 */
import type { FloatDtype } from '../format/dtype';
import { f16BitsToF32Bits } from '../numerics/float16';
import { readElements, writableElements } from './typed-views';

/** Elements per scratch block: 16 KiB per binary32 block stays in the first-level cache. */
export const JS_BLOCK_ELEMENTS = 4096;

/** A binary32 scratch block with an integer view of the same bytes. */
export class Float32Block {
  readonly f32: Float32Array;
  readonly u32: Uint32Array;
  constructor(length = JS_BLOCK_ELEMENTS) {
    this.f32 = new Float32Array(length);
    this.u32 = new Uint32Array(this.f32.buffer);
  }
}

/** binary16 to binary32 bits for all 65536 inputs (256 KiB), built on first use. */
let f16Table: Uint32Array | undefined;
function f16ToF32Table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65_536);
    for (let bits = 0; bits < 65_536; bits++) f16Table[bits] = f16BitsToF32Bits(bits);
  }
  return f16Table;
}

/** Writes elements [start, start + length) of `bytes` (of `dtype`) into `block` as binary32. */
export function widenInto(block: Float32Block, bytes: Uint8Array, dtype: FloatDtype, start: number, length: number): void {
  const out = block.u32;
  switch (dtype) {
    case 'BF16': {
      const src = readElements(Uint16Array, bytes, start, length);
      for (let i = 0; i < length; i++) out[i] = src[i]! << 16;
      return;
    }
    case 'F16': {
      const src = readElements(Uint16Array, bytes, start, length);
      const table = f16ToF32Table();
      for (let i = 0; i < length; i++) out[i] = table[src[i]!]!;
      return;
    }
    case 'F32':
      out.set(readElements(Uint32Array, bytes, start, length));
      return;
    case 'F64': {
      const src = readElements(Float64Array, bytes, start, length);
      const values = block.f32;
      // Storing into a Float32Array rounds to nearest, ties to even (Math.fround).
      for (let i = 0; i < length; i++) values[i] = src[i]!;
      return;
    }
  }
}

/** Writes the first `length` binary32 values of `block` into elements [start, ...) of `bytes` as `dtype`. */
export function narrowFrom(block: Float32Block, bytes: Uint8Array, dtype: FloatDtype, start: number, length: number): void {
  const bits = block.u32;
  switch (dtype) {
    case 'BF16': {
      const [dst, store] = writableElements(Uint16Array, bytes, start, length);
      for (let i = 0; i < length; i++) {
        const u = bits[i]!;
        // NaN: keep sign and top payload bits, set the quiet bit; otherwise round to nearest even.
        dst[i] = (u & 0x7fff_ffff) > 0x7f80_0000 ? (u >>> 16) | 0x40 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
      }
      store();
      return;
    }
    case 'F16': {
      const [dst, store] = writableElements(Uint16Array, bytes, start, length);
      for (let i = 0; i < length; i++) dst[i] = f32BitsToF16(bits[i]!);
      store();
      return;
    }
    case 'F32': {
      const [dst, store] = writableElements(Uint32Array, bytes, start, length);
      dst.set(bits.subarray(0, length));
      store();
      return;
    }
    case 'F64': {
      const [dst, store] = writableElements(Float64Array, bytes, start, length);
      const values = block.f32;
      for (let i = 0; i < length; i++) dst[i] = values[i]!;
      store();
      return;
    }
  }
}

const halfScratch = new Float32Array(1);
const halfScratchBits = new Uint32Array(halfScratch.buffer);

/**
 * binary32 bits to binary16 bits, nearest even (F. Giesen's float_to_half_fast3_rtne): normals round with
 * an integer add that also rebiases the exponent; subnormals are aligned by adding 0.5 in binary32, so the
 * FPU rounds at 2^-24.
 */
function f32BitsToF16(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const magnitude = u & 0x7fff_ffff;
  if (magnitude >= 0x4780_0000) return sign | (magnitude > 0x7f80_0000 ? 0x7e00 : 0x7c00);
  if (magnitude < 0x3880_0000) {
    halfScratchBits[0] = magnitude;
    halfScratch[0] = halfScratch[0]! + 0.5;
    return sign | (halfScratchBits[0]! - 0x3f00_0000);
  }
  return sign | ((magnitude + 0xc800_0fff + ((magnitude >>> 13) & 1)) >>> 13);
}
