/**
 * The binary64 cases, shared by both kernel implementations: subtract and addScaled when any operand is F64
 * (computed in binary64, as PyTorch's type promotion does when a float64 tensor takes part; a narrower output
 * is rounded through binary32, as `.to(dtype)` does), and compare when either side is F64. F64 residuals of
 * F32 checkpoints are what makes their reconstruction exact. These run element by element.
 */
import type { FloatDtype } from '../format/dtype';
import { fmaF64 } from '../numerics/fused-multiply-add';
import type { CompareAccumulator } from './compare-accumulator';
import { addTotals, type DeltaStatistics } from './delta-statistics';
import { Float32Block, JS_BLOCK_ELEMENTS, narrowFrom, widenInto } from './js-conversions';
import { readElements, writableElements } from './typed-views';

const keyScratch = new Float32Array(1);
const keyScratchBits = new Uint32Array(keyScratch.buffer);

export function subtractF64(
  a: Uint8Array, aDtype: FloatDtype, b: Uint8Array, bDtype: FloatDtype, out: Uint8Array, outDtype: FloatDtype,
  count: number, stats: DeltaStatistics | undefined,
): void {
  const block = new Float32Block();
  for (let start = 0; start < count; start += JS_BLOCK_ELEMENTS) {
    const length = Math.min(JS_BLOCK_ELEMENTS, count - start);
    const x = widenToF64(a, aDtype, start, length, block);
    const y = widenToF64(b, bDtype, start, length, block);
    const [d, store] = binary64Output(out, outDtype, start, length, block);
    let sum = 0;
    let sumSquares = 0;
    let baseSumSquares = 0;
    let otherSumSquares = 0;
    let dot = 0;
    let min = Infinity;
    let max = -Infinity;
    let unchanged = 0;
    let nonFinite = 0;
    for (let i = 0; i < length; i++) {
      const base = x[i]!;
      const other = y[i]!;
      const delta = other - base;
      d[i] = delta;
      if (stats === undefined) continue;
      if (base === other) unchanged++;
      // The histogram is keyed by the delta rounded to binary32, like every other dtype's.
      keyScratch[0] = delta;
      stats.histogram[keyScratchBits[0]! >>> 16]! += 1;
      if (delta - delta !== 0) {
        nonFinite++;
        continue;
      }
      sum += delta;
      sumSquares += delta * delta;
      baseSumSquares += base * base;
      otherSumSquares += other * other;
      dot += base * other;
      if (delta < min) min = delta;
      if (delta > max) max = delta;
    }
    store();
    if (stats !== undefined) {
      addTotals(stats, {
        count: length, sum, sumSquares, baseSumSquares, otherSumSquares, dot, min, max, unchanged, nonFinite,
      });
    }
  }
}

export function addScaledF64(
  c: Uint8Array, cDtype: FloatDtype, r: Uint8Array, rDtype: FloatDtype, alpha: number,
  out: Uint8Array, outDtype: FloatDtype, count: number,
): void {
  const block = new Float32Block();
  for (let start = 0; start < count; start += JS_BLOCK_ELEMENTS) {
    const length = Math.min(JS_BLOCK_ELEMENTS, count - start);
    const base = widenToF64(c, cDtype, start, length, block);
    const residual = widenToF64(r, rDtype, start, length, block);
    const [result, store] = binary64Output(out, outDtype, start, length, block);
    for (let i = 0; i < length; i++) result[i] = fmaF64(residual[i]!, alpha, base[i]!);
    store();
  }
}

/** compare where x or y is F64: both widened exactly to binary64. */
export function compareF64(
  x: Uint8Array, xDtype: FloatDtype, y: Uint8Array, yDtype: FloatDtype, count: number, acc: CompareAccumulator,
): void {
  const block = new Float32Block();
  for (let start = 0; start < count; start += JS_BLOCK_ELEMENTS) {
    const length = Math.min(JS_BLOCK_ELEMENTS, count - start);
    const xs = widenToF64(x, xDtype, start, length, block);
    const ys = widenToF64(y, yDtype, start, length, block);
    const xWords = new Uint32Array(xs.buffer, xs.byteOffset, 2 * length);
    const yWords = new Uint32Array(ys.buffer, ys.byteOffset, 2 * length);
    for (let i = 0; i < length; i++) {
      const u = xs[i]!;
      const v = ys[i]!;
      const identical = xWords[2 * i] === yWords[2 * i] && xWords[2 * i + 1] === yWords[2 * i + 1];
      if (identical) acc.identical++;
      else if (u === v) acc.signedZeroOnly++;
      if (u - u === 0 && v - v === 0) {
        const error = Math.abs(u - v);
        if (error > acc.maxAbsError) acc.maxAbsError = error;
      } else if (!identical && !(u !== u && v !== v)) {
        acc.nonFiniteMismatch++;
      }
    }
  }
  acc.count += count;
}

function widenToF64(bytes: Uint8Array, dtype: FloatDtype, start: number, length: number, block: Float32Block): Float64Array {
  if (dtype === 'F64') return readElements(Float64Array, bytes, start, length);
  widenInto(block, bytes, dtype, start, length);
  return Float64Array.from(block.f32.subarray(0, length));
}

/** Where binary64 results go: straight into an F64 output, else through binary32 into the narrower dtype. */
function binary64Output(
  out: Uint8Array, outDtype: FloatDtype, start: number, length: number, block: Float32Block,
): [Float64Array, () => void] {
  if (outDtype === 'F64') return writableElements(Float64Array, out, start, length);
  const values = new Float64Array(length);
  return [values, () => {
    block.f32.set(values);
    narrowFrom(block, out, outDtype, start, length);
  }];
}
