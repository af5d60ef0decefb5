/**
 * ΔW = scaling · (B @ A) of one LoRA module, computed piece by piece in one defined order (docs/lora.md, "How an
 * adapter is merged"), so that a merge gives the same bits on any machine, backend or thread count. For element
 * (i, j) of the model's weight:
 *
 *     acc = +0 (binary32);  for k = 0, 1, ..., r - 1:  acc = fl32(acc + fl32(B[i][k] · A[k][j]))
 *     Δ[i][j] = fl32(fl32(scaling) · acc)
 *
 * with fl32 one rounding to nearest binary32, ties to even, and no fused multiply-add. An embedding's ΔW is
 * (B @ A)ᵀ: its element (i, j) is that sum for B's row j and A's column i. In JavaScript a binary32 product or sum
 * computed in binary64 and rounded once by Math.fround is the correctly rounded binary32 result (binary64 has more
 * than twice binary32's precision), which is what WebAssembly's or a GPU's f32 mul and add give one at a time.
 */
import { Float32Block, widenInto } from '../kernels/js-conversions';
import { transposed, type FactorDtype } from './factor-encoding';
import type { LoraModuleKind } from './peft-adapter';

/** A stored factor: [rows, columns] elements of `dtype`, little-endian, row-major. */
export interface StoredFactor {
  bytes: Uint8Array;
  dtype: FactorDtype;
  shape: readonly [number, number];
}

export interface NonFiniteFactor {
  factor: 'a' | 'b';
  /** Its index in the stored factor, row-major. */
  index: number;
  value: number;
}

export class LoraDelta {
  private readonly scaling: number;

  /**
   * `rowFactors` [rows, r] holds, for each row i of ΔW, the factor entries its sums run over in k, and
   * `columnFactors` [columns, r] those of each column j: both rows are contiguous, so the sum reads memory in order.
   */
  private constructor(
    readonly rows: number,
    readonly columns: number,
    readonly rank: number,
    private readonly rowFactors: Float32Array,
    private readonly columnFactors: Float32Array,
    scaling: number,
    /** The first factor element that is infinite or NaN: such a value spreads over a whole row or column of ΔW. */
    readonly nonFiniteFactor: NonFiniteFactor | undefined,
  ) {
    this.scaling = Math.fround(scaling);
  }

  /**
   * The ΔW of a module's factors, widened exactly to binary32. Linear: A [r, in], B [out, r], ΔW [out, in].
   * Embedding: A [r, num_embeddings], B [dim, r], ΔW [num_embeddings, dim].
   */
  static of(kind: LoraModuleKind, a: StoredFactor, b: StoredFactor, scaling: number): LoraDelta {
    const [rank, aColumns] = a.shape;
    const [bRows] = b.shape;
    const [aValues, bValues] = [widened(a), widened(b)];
    const nonFinite = firstNonFinite(aValues, 'a') ?? firstNonFinite(bValues, 'b');
    const aTransposed = transposed(aValues, rank, aColumns);
    return kind === 'linear'
      ? new LoraDelta(bRows, aColumns, rank, bValues, aTransposed, scaling, nonFinite)
      : new LoraDelta(aColumns, bRows, rank, aTransposed, bValues, scaling, nonFinite);
  }

  /** Writes elements [start, start + count) of ΔW (row-major) into `out` from index 0, in the defined order. */
  writePiece(start: number, count: number, out: Float32Array): void {
    const { columns, rank, rowFactors, columnFactors, scaling } = this;
    const fround = Math.fround;
    const end = start + count;
    let index = start;
    let written = 0;
    while (index < end) {
      const row = Math.floor(index / columns);
      const rowEnd = Math.min(end, (row + 1) * columns);
      const rowOffset = row * rank;
      let column = index - row * columns;
      // Eight columns at a time share the loads of the row's factors and keep eight independent sums in flight
      // (one sum's additions depend on each other): twice as fast as one column at a time. Each sum keeps k's order.
      for (; index + 8 <= rowEnd; index += 8, column += 8, written += 8) {
        const c0 = column * rank;
        const c1 = c0 + rank;
        const c2 = c1 + rank;
        const c3 = c2 + rank;
        const c4 = c3 + rank;
        const c5 = c4 + rank;
        const c6 = c5 + rank;
        const c7 = c6 + rank;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let s4 = 0;
        let s5 = 0;
        let s6 = 0;
        let s7 = 0;
        for (let k = 0; k < rank; k++) {
          const rowValue = rowFactors[rowOffset + k]!;
          s0 = fround(s0 + fround(rowValue * columnFactors[c0 + k]!));
          s1 = fround(s1 + fround(rowValue * columnFactors[c1 + k]!));
          s2 = fround(s2 + fround(rowValue * columnFactors[c2 + k]!));
          s3 = fround(s3 + fround(rowValue * columnFactors[c3 + k]!));
          s4 = fround(s4 + fround(rowValue * columnFactors[c4 + k]!));
          s5 = fround(s5 + fround(rowValue * columnFactors[c5 + k]!));
          s6 = fround(s6 + fround(rowValue * columnFactors[c6 + k]!));
          s7 = fround(s7 + fround(rowValue * columnFactors[c7 + k]!));
        }
        out[written] = fround(scaling * s0);
        out[written + 1] = fround(scaling * s1);
        out[written + 2] = fround(scaling * s2);
        out[written + 3] = fround(scaling * s3);
        out[written + 4] = fround(scaling * s4);
        out[written + 5] = fround(scaling * s5);
        out[written + 6] = fround(scaling * s6);
        out[written + 7] = fround(scaling * s7);
      }
      for (; index < rowEnd; index++, column++, written++) {
        const right = column * rank;
        let sum = 0;
        for (let k = 0; k < rank; k++) sum = fround(sum + fround(rowFactors[rowOffset + k]! * columnFactors[right + k]!));
        out[written] = fround(scaling * sum);
      }
    }
  }
}

function widened(factor: StoredFactor): Float32Array {
  const count = factor.shape[0] * factor.shape[1];
  const block = new Float32Block(count);
  widenInto(block, factor.bytes, factor.dtype, 0, count);
  return block.f32;
}

function firstNonFinite(values: Float32Array, factor: 'a' | 'b'): NonFiniteFactor | undefined {
  for (let index = 0; index < values.length; index++) {
    if (!Number.isFinite(values[index]!)) return { factor, index, value: values[index]! };
  }
  return undefined;
}
