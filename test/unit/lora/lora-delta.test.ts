/**
 * LoraDelta's pieces against ΔW summed here in the defined order: any shape (the eight-column blocks and the columns
 * left over), pieces cut anywhere (mid-row included), linear and embedding layouts, and BF16/F16 factors widened exactly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoraDelta } from '../../../src/engine/lora/lora-delta';
import { encodeFloat32, mulberry32, type LlamaDtype } from '../../helpers/make-checkpoint';

function randomValues(count: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: count }, () => (random() - 0.5) * 2);
}

/** ΔW[i][j] for a linear module: acc = +0; acc = fl32(acc + fl32(B[i][k] · A[k][j])) for k ascending; fl32(fl32(s) · acc). */
function reference(a: Float32Array, b: Float32Array, rows: number, columns: number, rank: number, scaling: number): Float32Array {
  const out = new Float32Array(rows * columns);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < columns; j++) {
      let acc = 0;
      for (let k = 0; k < rank; k++) acc = Math.fround(acc + Math.fround(b[i * rank + k]! * a[k * columns + j]!));
      out[i * columns + j] = Math.fround(Math.fround(scaling) * acc);
    }
  }
  return out;
}

/** Stored 16-bit values as binary32, decoded here: bf16 is the top half of binary32; f16 by its definition. */
function decode(bytes: Uint8Array, dtype: LlamaDtype): Float32Array {
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return Float32Array.from(halves, (half) => {
    if (dtype === 'BF16') return new Float32Array(new Uint32Array([half << 16]).buffer)[0]!;
    const sign = half & 0x8000 ? -1 : 1;
    const exponent = (half >> 10) & 0x1f;
    const mantissa = half & 0x3ff;
    return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  });
}

function bits(values: Float32Array): number[] {
  return [...new Uint32Array(values.buffer, values.byteOffset, values.length)];
}

/** ΔW assembled from pieces of the given sizes, cycling. */
function inPieces(delta: LoraDelta, total: number, sizes: readonly number[]): Float32Array {
  const result = new Float32Array(total);
  const scratch = new Float32Array(Math.max(...sizes));
  for (let start = 0, piece = 0; start < total; piece++) {
    const count = Math.min(sizes[piece % sizes.length]!, total - start);
    scratch.fill(Number.NaN);
    delta.writePiece(start, count, scratch);
    result.set(scratch.subarray(0, count), start);
    start += count;
  }
  return result;
}

describe('LoraDelta', () => {
  it('gives the defined order\'s bits for any shape and any cut into pieces', () => {
    for (const [rows, columns, rank] of [[5, 13, 3], [3, 8, 1], [7, 17, 37], [2, 31, 8], [9, 4, 16]] as const) {
      const a = randomValues(rank * columns, rows * 100 + columns);
      const b = randomValues(rows * rank, rank);
      const scaling = 8 / Math.sqrt(rank);
      const delta = LoraDelta.of('linear', { bytes: new Uint8Array(a.buffer), dtype: 'F32', shape: [rank, columns] },
        { bytes: new Uint8Array(b.buffer), dtype: 'F32', shape: [rows, rank] }, scaling);
      const expected = bits(reference(a, b, rows, columns, rank, scaling));
      for (const sizes of [[rows * columns], [1], [7, 3], [columns + 5, 2]]) {
        assert.deepEqual(bits(inPieces(delta, rows * columns, sizes)), expected, `[${rows}, ${columns}] rank ${rank} in pieces of ${sizes.join(', ')}`);
      }
    }
  });

  it('an embedding\'s ΔW is (B @ A)ᵀ, and 16-bit factors are widened exactly', () => {
    const [embeddings, dim, rank] = [11, 6, 4];
    for (const dtype of ['BF16', 'F16'] as LlamaDtype[]) {
      const aBytes = encodeFloat32(randomValues(rank * embeddings, 1), dtype);
      const bBytes = encodeFloat32(randomValues(dim * rank, 2), dtype);
      const [a, b] = [decode(aBytes, dtype), decode(bBytes, dtype)];
      const delta = LoraDelta.of('embedding', { bytes: aBytes, dtype: dtype as 'BF16', shape: [rank, embeddings] }, { bytes: bBytes, dtype: dtype as 'BF16', shape: [dim, rank] }, 2);
      const product = reference(a, b, dim, embeddings, rank, 2);
      const transposed = new Float32Array(embeddings * dim);
      for (let d = 0; d < dim; d++) for (let e = 0; e < embeddings; e++) transposed[e * dim + d] = product[d * embeddings + e]!;
      assert.deepEqual(bits(inPieces(delta, embeddings * dim, [5])), bits(transposed), dtype);
    }
  });

  it('starts every sum at +0 and finds a non-finite factor', () => {
    const zeros = new Float32Array([-0, -0]);
    const delta = LoraDelta.of('linear', { bytes: new Uint8Array(zeros.buffer), dtype: 'F32', shape: [1, 2] },
      { bytes: new Uint8Array(new Float32Array([1]).buffer), dtype: 'F32', shape: [1, 1] }, 1);
    const out = new Float32Array(2);
    delta.writePiece(0, 2, out);
    assert.ok(Object.is(out[0], 0) && Object.is(out[1], 0), 'fl32(+0 + -0) is +0');
    assert.equal(delta.nonFiniteFactor, undefined);
    const broken = LoraDelta.of('linear', { bytes: new Uint8Array(new Float32Array([1, 2]).buffer), dtype: 'F32', shape: [1, 2] },
      { bytes: new Uint8Array(new Float32Array([Number.NaN]).buffer), dtype: 'F32', shape: [1, 1] }, 1);
    assert.deepEqual(broken.nonFiniteFactor, { factor: 'b', index: 0, value: Number.NaN });
  });
});
