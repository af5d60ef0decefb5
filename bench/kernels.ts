/**
 * Throughput of the elementwise kernels in GB/s of input (bytes of all input operands per second), WebAssembly
 * SIMD against plain JS, 256 MiB per input, one thread. Run: npx tsx bench/kernels.ts [--quick]
 */
import type { FloatDtype } from '../src/engine/format/dtype';
import {
  createCompareAccumulator, createDeltaStatistics, loadKernels, type ElementwiseKernels, type KernelBuffer,
} from '../src/engine/kernels/kernels';

const INPUT_BYTES = (process.argv.includes('--quick') ? 32 : 256) << 20;
/** Kernel calls of 1 MiB pieces, as the pipeline streams them. */
const PIECE_BYTES = 1 << 20;
const REPEATS = 3;
const SIZE: Record<FloatDtype, number> = { BF16: 2, F16: 2, F32: 4, F64: 8 };

/** bfloat16-like weights around 0.02 and an instruct copy changed by ~1e-3, as real checkpoints look. */
function fill(buffer: KernelBuffer, dtype: FloatDtype, seed: number, count: number): void {
  const values = new Float32Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    values[i] = ((state / 2 ** 32) - 0.5) * 0.04 + (seed === 2 ? ((i * 2_654_435_761) % 1000) * 1e-6 : 0);
  }
  const bytes = buffer.bytes;
  if (dtype === 'F32') new Float32Array(bytes.buffer, bytes.byteOffset, count).set(values);
  else if (dtype === 'F64') new Float64Array(bytes.buffer, bytes.byteOffset, count).set(values);
  else {
    const words = new Uint32Array(values.buffer);
    const out = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
    for (let i = 0; i < count; i++) out[i] = dtype === 'BF16' ? words[i]! >>> 16 : 0x3c00 ^ (words[i]! >>> 20);
  }
}

interface Case {
  name: string;
  dtypes: FloatDtype[];
  out?: FloatDtype;
  run(kernels: ElementwiseKernels, inputs: KernelBuffer[], out: KernelBuffer, count: number): void;
}

const CASES: Case[] = [
  { name: 'sub bf16', dtypes: ['BF16', 'BF16'], out: 'BF16', run: (k, [a, b], o, n) => k.subtract(a!, 'BF16', b!, 'BF16', o, 'BF16', n) },
  { name: 'sub bf16 + stats', dtypes: ['BF16', 'BF16'], out: 'BF16', run: (k, [a, b], o, n) => k.subtract(a!, 'BF16', b!, 'BF16', o, 'BF16', n, stats) },
  { name: 'sub bf16 -> f32', dtypes: ['BF16', 'BF16'], out: 'F32', run: (k, [a, b], o, n) => k.subtract(a!, 'BF16', b!, 'BF16', o, 'F32', n) },
  { name: 'sub f16', dtypes: ['F16', 'F16'], out: 'F16', run: (k, [a, b], o, n) => k.subtract(a!, 'F16', b!, 'F16', o, 'F16', n) },
  { name: 'sub f16 + stats', dtypes: ['F16', 'F16'], out: 'F16', run: (k, [a, b], o, n) => k.subtract(a!, 'F16', b!, 'F16', o, 'F16', n, stats) },
  { name: 'sub f32', dtypes: ['F32', 'F32'], out: 'F32', run: (k, [a, b], o, n) => k.subtract(a!, 'F32', b!, 'F32', o, 'F32', n) },
  { name: 'sub f32 + stats', dtypes: ['F32', 'F32'], out: 'F32', run: (k, [a, b], o, n) => k.subtract(a!, 'F32', b!, 'F32', o, 'F32', n, stats) },
  { name: 'addScaled bf16 alpha 1', dtypes: ['BF16', 'BF16'], out: 'BF16', run: (k, [c, r], o, n) => k.addScaled(c!, 'BF16', r!, 'BF16', 1, o, 'BF16', n) },
  { name: 'addScaled bf16 alpha 0.5', dtypes: ['BF16', 'BF16'], out: 'BF16', run: (k, [c, r], o, n) => k.addScaled(c!, 'BF16', r!, 'BF16', 0.5, o, 'BF16', n) },
  { name: 'addScaled bf16 + f32 residual', dtypes: ['BF16', 'F32'], out: 'BF16', run: (k, [c, r], o, n) => k.addScaled(c!, 'BF16', r!, 'F32', 1, o, 'BF16', n) },
  { name: 'addScaled f32 alpha 0.5', dtypes: ['F32', 'F32'], out: 'F32', run: (k, [c, r], o, n) => k.addScaled(c!, 'F32', r!, 'F32', 0.5, o, 'F32', n) },
  { name: 'convert f32 -> bf16', dtypes: ['F32'], out: 'BF16', run: (k, [s], o, n) => k.convert(s!, 'F32', o, 'BF16', n) },
  { name: 'convert bf16 -> f32', dtypes: ['BF16'], out: 'F32', run: (k, [s], o, n) => k.convert(s!, 'BF16', o, 'F32', n) },
  { name: 'convert f16 -> bf16', dtypes: ['F16'], out: 'BF16', run: (k, [s], o, n) => k.convert(s!, 'F16', o, 'BF16', n) },
  { name: 'compare bf16', dtypes: ['BF16', 'BF16'], run: (k, [x, y], _o, n) => k.compare(x!, 'BF16', y!, 'BF16', n, createCompareAccumulator()) },
];

let stats = createDeltaStatistics();

async function main(): Promise<void> {
  const rows: string[] = [];
  const implementations = [await loadKernels('wasm-simd'), await loadKernels('js')];
  console.log(`${INPUT_BYTES >> 20} MiB per input, ${PIECE_BYTES >> 20} MiB pieces, best of ${REPEATS}`);
  console.log(`${'kernel'.padEnd(32)}${implementations.map((k) => k.name.padStart(12)).join('')}  (GB/s of input)`);
  for (const benchCase of CASES) {
    const speeds: string[] = [];
    for (const kernels of implementations) {
      // Element count so that the widest input is INPUT_BYTES (inputs of 2-byte dtypes then are 256 MiB).
      const count = INPUT_BYTES / Math.max(...benchCase.dtypes.map((dtype) => SIZE[dtype]));
      const inputs = benchCase.dtypes.map((dtype, index) => {
        const buffer = kernels.allocate(count * SIZE[dtype]);
        fill(buffer, dtype, index + 1, count);
        return buffer;
      });
      const out = kernels.allocate(count * SIZE[benchCase.out ?? 'F32']);
      const pieceElements = PIECE_BYTES / 2;
      const inputBytes = benchCase.dtypes.reduce((sum, dtype) => sum + count * SIZE[dtype], 0);
      let best = Infinity;
      for (let repeat = 0; repeat < REPEATS; repeat++) {
        stats = createDeltaStatistics();
        const started = performance.now();
        for (let start = 0; start < count; start += pieceElements) {
          const length = Math.min(pieceElements, count - start);
          const views = inputs.map((buffer, index) => buffer.view(start * SIZE[benchCase.dtypes[index]!], length * SIZE[benchCase.dtypes[index]!]));
          const outSize = SIZE[benchCase.out ?? 'F32'];
          benchCase.run(kernels, views, out.view(start * outSize, length * outSize), length);
        }
        best = Math.min(best, (performance.now() - started) / 1000);
      }
      speeds.push((inputBytes / best / 1e9).toFixed(1).padStart(12));
      [...inputs, out].forEach((buffer) => kernels.free(buffer));
    }
    rows.push(`${benchCase.name.padEnd(32)}${speeds.join('')}`);
    console.log(rows[rows.length - 1]);
  }
}

void main();
