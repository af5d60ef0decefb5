import { open } from 'node:fs/promises';
import type { Checkpoint } from '../../src/engine/checkpoint/checkpoint-types';

/** A tensor's values as JavaScript numbers, decoded here independently of the engine's kernels. */
export async function readTensorValues(checkpoint: Checkpoint, name: string): Promise<number[]> {
  const ref = checkpoint.tensors.get(name);
  if (!ref) throw new Error(`no tensor ${name} in ${checkpoint.root}`);
  const handle = await open(ref.file.path, 'r');
  try {
    const bytes = Buffer.alloc(ref.byteLength);
    await handle.read(bytes, 0, ref.byteLength, ref.offset);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Array.from({ length: ref.elementCount }, (_, index) => {
      switch (ref.dtype) {
        case 'F32': return view.getFloat32(index * 4, true);
        case 'F64': return view.getFloat64(index * 8, true);
        case 'BF16': return bf16ToNumber(view.getUint16(index * 2, true));
        case 'F16': return f16ToNumber(view.getUint16(index * 2, true));
        default: throw new Error(`readTensorValues does not decode ${ref.dtype}`);
      }
    });
  } finally {
    await handle.close();
  }
}

function bf16ToNumber(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits << 16, true);
  return view.getFloat32(0, true);
}

function f16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
