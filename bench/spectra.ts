/**
 * Spectral statistics on onnxruntime-node (CPU, or CUDA where present) against plain JavaScript,
 * on residual-like matrices: a decaying low-rank part plus noise.
 *
 *   npx tsx bench/spectra.ts [--sizes 1024x1024,2048x2048,4096x4096] [--k 64] [--no-js]
 *
 * Prints, per size and backend, the time of the whole pass, the share of it spent in the
 * backend's products (the rest is the f64 orthonormalisation and the small eigenproblem, the same
 * code on every backend), and the largest difference of singular values between backends.
 */
import { performance } from 'node:perf_hooks';
import type { MatrixBackend } from '../src/engine/spectra/matrix-backend';
import { seededGaussianMatrix } from '../src/engine/spectra/seeded-gaussian';
import { spectralStats, type SpectralStats } from '../src/engine/spectra/spectral-stats';
import { loadMatrixBackend } from '../src/worker/backends/load-matrix-backend';

/** Rank of the planted signal and the noise level relative to it, roughly like a fine-tune delta. */
const SIGNAL_RANK = 32;
const NOISE_SCALE = 0.02;

interface Options {
  sizes: Array<[number, number]>;
  k: number;
  withJs: boolean;
}

function parseArguments(argv: string[]): Options {
  const options: Options = { sizes: [[1024, 1024], [2048, 2048], [4096, 4096]], k: 64, withJs: true };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--sizes') {
      options.sizes = (argv[++i] ?? '').split(',').map((size) => {
        const [rows, cols] = size.split('x').map(Number);
        if (!rows || !cols) throw new Error(`--sizes expects ROWSxCOLS[,...], got ${size}`);
        return [rows, cols];
      });
    } else if (flag === '--k') {
      options.k = Number(argv[++i]);
    } else if (flag === '--no-js') {
      options.withJs = false;
    } else {
      throw new Error(`unknown argument ${flag}`);
    }
  }
  return options;
}

function residualLikeMatrix(rows: number, cols: number): Float32Array {
  const left = seededGaussianMatrix(rows, SIGNAL_RANK, 1);
  const right = seededGaussianMatrix(SIGNAL_RANK, cols, 2);
  const out = seededGaussianMatrix(rows, cols, 3);
  const weights = Array.from({ length: SIGNAL_RANK }, (_, p) => 0.85 ** p / Math.sqrt(cols));
  const row = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    row.fill(0);
    for (let p = 0; p < SIGNAL_RANK; p++) {
      const scale = left[i * SIGNAL_RANK + p]! * weights[p]!;
      for (let j = 0; j < cols; j++) row[j]! += scale * right[p * cols + j]!;
    }
    for (let j = 0; j < cols; j++) out[i * cols + j] = row[j]! + (NOISE_SCALE / Math.sqrt(cols)) * out[i * cols + j]!;
  }
  return out;
}

/** The backend with the time spent inside its products added up. */
function timed(backend: MatrixBackend): { backend: MatrixBackend; productMs: () => number } {
  let total = 0;
  return {
    backend: {
      name: backend.name,
      provider: backend.provider,
      matmul: async (...args) => {
        const start = performance.now();
        try {
          return await backend.matmul(...args);
        } finally {
          total += performance.now() - start;
        }
      },
    },
    productMs: () => total,
  };
}

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  const ort = await loadMatrixBackend('auto');
  console.log(ort.message);
  const backends: MatrixBackend[] = [ort.backend];
  if (options.withJs && ort.backend.name !== 'js') backends.push((await loadMatrixBackend('js')).backend);

  console.log(`k = ${options.k}, oversampling 10, 2 power iterations (6 products of the matrix by a ${options.k + 10}-column panel)`);
  console.log('size        backend                                      total ms  products ms  GFLOP/s  s_1          max |ds|/s_1');
  for (const [rows, cols] of options.sizes) {
    const matrix = residualLikeMatrix(rows, cols);
    const panel = Math.min(options.k + 10, rows, cols);
    const flops = 6 * 2 * rows * cols * panel;
    let reference: SpectralStats | undefined;
    for (const backend of backends) {
      const probe = timed(backend);
      const start = performance.now();
      const stats = await spectralStats(matrix, rows, cols, { backend: probe.backend, k: options.k });
      const totalMs = performance.now() - start;
      reference ??= stats;
      const s1 = stats.singularValues[0] ?? 0;
      const deviation = Math.max(...stats.singularValues.map((value, i) => Math.abs(value - reference!.singularValues[i]!))) / (s1 || 1);
      console.log(
        `${`${rows}x${cols}`.padEnd(12)}${backend.provider.padEnd(45)}${totalMs.toFixed(0).padStart(9)}${probe.productMs().toFixed(0).padStart(13)}`
        + `${(flops / probe.productMs() / 1e6).toFixed(1).padStart(9)}  ${s1.toPrecision(8).padEnd(13)}${deviation.toExponential(2)}`,
      );
    }
  }
  await ort.backend.dispose?.();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
