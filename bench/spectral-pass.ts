/**
 * The spectral pass (randomised SVD of a residual matrix) timed on onnxruntime-node's CPU provider,
 * on the built-in WebAssembly SIMD products and on plain JavaScript, on the same residual-like
 * matrices: a decaying low-rank part plus noise.
 */
import { performance } from 'node:perf_hooks';
import { createJsMatrixBackend } from '../src/engine/spectra/js-matrix-backend';
import type { MatrixBackend } from '../src/engine/spectra/matrix-backend';
import { seededGaussianMatrix } from '../src/engine/spectra/seeded-gaussian';
import { spectralStats, type SpectralStats } from '../src/engine/spectra/spectral-stats';
import { productThreads } from '../src/engine/spectra/product-threads';
import { createWasmMatrixBackend, type WasmMatrixBackend } from '../src/engine/spectra/wasm-matrix-backend';
import { loadMatrixBackend } from '../src/spectra-backends/load-matrix-backend';

/** Rank of the planted signal and the noise level relative to it, roughly like a fine-tune delta. */
const SIGNAL_RANK = 32;
const NOISE_SCALE = 0.02;
/** The spectral pass's oversampling and power iterations: 6 products of the matrix by a (k + 10)-column panel. */
const OVERSAMPLING = 10;
const PRODUCTS = 6;

export function residualLikeMatrix(rows: number, cols: number): Float32Array {
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

/** The backend with the time spent inside its products (not the f64 ones of the orthonormalisation) added up. */
export function withProductTimer(backend: MatrixBackend): { backend: MatrixBackend; productMs: () => number } {
  let total = 0;
  return {
    backend: {
      name: backend.name,
      provider: backend.provider,
      ...(backend.f64 !== undefined ? { f64: backend.f64 } : {}),
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

/** The WebAssembly backend once all its threads have started (a pass that begins earlier runs its first products on fewer). */
async function startedWasmBackend(): Promise<WasmMatrixBackend> {
  const backend = createWasmMatrixBackend();
  while (backend.readyThreads() < productThreads()) await new Promise((resolve) => setTimeout(resolve, 10));
  return backend;
}

/** `4096x4096,2048x8192` as [rows, cols] pairs. */
export function parseMatrixSizes(text: string): Array<[number, number]> {
  return text.split(',').map((size) => {
    const [rows, cols] = size.split('x').map(Number);
    if (!rows || !cols) throw new Error(`sizes are ROWSxCOLS[,...], got ${size}`);
    return [rows, cols];
  });
}

export interface SpectralRow {
  rows: number;
  cols: number;
  k: number;
  backend: string;
  provider: string;
  seconds: number;
  productSeconds: number;
  gflopsInProducts: number;
  topSingularValue: number;
  /** Largest difference of singular values from the first backend's, relative to its s_1. */
  maxRelativeDeviation: number;
}

export interface SpectralRun {
  /** What loaded: "Spectra on ..." or why onnxruntime-node did not. */
  ortMessage: string;
  rows: SpectralRow[];
}

/**
 * Times the spectral pass per size on ONNX Runtime (when it loads), on WebAssembly SIMD, and on
 * plain JS (unless `withJs` is false).
 */
export async function measureSpectralPass(sizes: ReadonlyArray<readonly [number, number]>, k: number, withJs = true): Promise<SpectralRun> {
  const ort = await loadMatrixBackend('auto');
  const backends: MatrixBackend[] = ort.backend.name === 'onnxruntime-node' ? [ort.backend] : [];
  backends.push(await startedWasmBackend());
  if (withJs) backends.push(createJsMatrixBackend());
  const rows: SpectralRow[] = [];
  for (const [rowCount, cols] of sizes) {
    const matrix = residualLikeMatrix(rowCount, cols);
    const flops = PRODUCTS * 2 * rowCount * cols * Math.min(k + OVERSAMPLING, rowCount, cols);
    let reference: SpectralStats | undefined;
    for (const backend of backends) {
      const probe = withProductTimer(backend);
      const start = performance.now();
      const stats = await spectralStats(matrix, rowCount, cols, { backend: probe.backend, k });
      const seconds = (performance.now() - start) / 1000;
      reference ??= stats;
      const s1 = stats.singularValues[0] ?? 0;
      const deviation = Math.max(0, ...stats.singularValues.map((value, i) => Math.abs(value - (reference!.singularValues[i] ?? 0)))) / (s1 || 1);
      rows.push({
        rows: rowCount, cols, k, backend: backend.name, provider: backend.provider, seconds,
        productSeconds: probe.productMs() / 1000, gflopsInProducts: flops / probe.productMs() / 1e6,
        topSingularValue: s1, maxRelativeDeviation: deviation,
      });
    }
  }
  for (const backend of new Set([ort.backend, ...backends])) await backend.dispose?.();
  return { ortMessage: ort.message, rows };
}
