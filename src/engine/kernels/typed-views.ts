/**
 * Typed-array access to element ranges of byte buffers that may not be aligned to their element size
 * (a tensor can start anywhere in a chunk): aligned ranges are viewed in place, others go through a copy.
 */
type ElementArray = Uint16Array | Uint32Array | Float32Array | Float64Array;
type ElementArrayConstructor<T extends ElementArray> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  new (length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/** Elements [start, start + length) of `bytes` as a `T` (a copy when unaligned). */
export function readElements<T extends ElementArray>(
  type: ElementArrayConstructor<T>, bytes: Uint8Array, start: number, length: number,
): T {
  const size = type.BYTES_PER_ELEMENT;
  const byteOffset = bytes.byteOffset + start * size;
  if (byteOffset % size === 0) return new type(bytes.buffer, byteOffset, length);
  const copy = new type(length);
  new Uint8Array(copy.buffer).set(bytes.subarray(start * size, (start + length) * size));
  return copy;
}

/**
 * A writable `T` for elements [start, start + length) of `bytes`, and a function that stores it
 * (a no-op when the range was aligned and written in place).
 */
export function writableElements<T extends ElementArray>(
  type: ElementArrayConstructor<T>, bytes: Uint8Array, start: number, length: number,
): [T, () => void] {
  const size = type.BYTES_PER_ELEMENT;
  const byteOffset = bytes.byteOffset + start * size;
  if (byteOffset % size === 0) return [new type(bytes.buffer, byteOffset, length), () => {}];
  const copy = new type(length);
  return [copy, () => bytes.set(new Uint8Array(copy.buffer, 0, length * size), start * size)];
}
