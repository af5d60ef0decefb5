/**
 * Spectral statistics on onnxruntime-node (CPU, or CUDA where present) against the built-in
 * WebAssembly SIMD products and plain JavaScript, on residual-like matrices: a decaying low-rank
 * part plus noise.
 *
 *   npx tsx bench/spectra.ts [--sizes 1024x1024,2048x2048,4096x4096] [--k 64] [--no-js]
 *
 * Prints, per size and backend, the time of the whole pass, the share of it spent in the
 * backend's products (the rest is the f64 orthonormalisation and the small eigenproblem, the same
 * code on every backend), and the largest difference of singular values between backends.
 * `npm run bench` runs the same pass (bench/spectral-pass.ts) as part of the end-to-end table.
 */
import { measureSpectralPass, parseMatrixSizes } from './spectral-pass';

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
      options.sizes = parseMatrixSizes(argv[++i] ?? '');
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

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  const run = await measureSpectralPass(options.sizes, options.k, options.withJs);
  console.log(run.ortMessage);
  console.log(`k = ${options.k}, oversampling 10, 2 power iterations (6 products of the matrix by a ${options.k + 10}-column panel)`);
  console.log('size        backend                                      total ms  products ms  GFLOP/s  s_1          max |ds|/s_1');
  for (const row of run.rows) {
    console.log(
      `${`${row.rows}x${row.cols}`.padEnd(12)}${row.provider.padEnd(45)}${(row.seconds * 1000).toFixed(0).padStart(9)}`
      + `${(row.productSeconds * 1000).toFixed(0).padStart(13)}${row.gflopsInProducts.toFixed(1).padStart(9)}  `
      + `${row.topSingularValue.toPrecision(8).padEnd(13)}${row.maxRelativeDeviation.toExponential(2)}`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
