import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { isSurgeonError } from '../../../src/engine/errors';
import { spectralStats } from '../../../src/engine/spectra/spectral-stats';
import { loadMatrixBackend } from '../../../src/spectra-backends/load-matrix-backend';
import type { OrtModule } from '../../../src/spectra-backends/ort-matrix-backend';
import { matrixWithSpectrum } from './reference-linear-algebra';

const missingOrt = async (): Promise<OrtModule> => {
  throw new Error("Cannot find module 'onnxruntime-node'");
};

/** The real module, if this machine has the optional dependency. */
async function realOrt(): Promise<OrtModule | undefined> {
  try {
    const name = 'onnxruntime-node';
    const loaded = (await import(name)) as Partial<OrtModule> & { default?: OrtModule };
    return loaded.InferenceSession !== undefined ? (loaded as OrtModule) : loaded.default;
  } catch {
    return undefined;
  }
}

/** The real module with a CUDA provider that fails as it does when its binaries are absent. */
function withoutCudaBinaries(ort: OrtModule): OrtModule {
  return {
    Tensor: ort.Tensor,
    InferenceSession: {
      create: async (model, options) => {
        if (options.executionProviders.includes('cuda')) {
          throw new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
        }
        return ort.InferenceSession.create(model, options);
      },
    },
  };
}

describe('choosing the matrix backend', () => {
  it("uses the built-in WebAssembly SIMD products for 'js' without loading onnxruntime-node", async () => {
    let imported = false;
    const { backend, message } = await loadMatrixBackend('js', { importOrt: async () => { imported = true; return missingOrt(); } });
    assert.equal(imported, false);
    assert.equal(backend.name, 'wasm-simd');
    assert.match(message, /^Spectra on WebAssembly SIMD, \d+ threads? \(onnxruntime-node not requested\)$/);
  });

  it("falls back to the built-in products under 'auto' when onnxruntime-node is not installed, and computes the same statistics", async () => {
    const { backend, message } = await loadMatrixBackend('auto', { importOrt: missingOrt });
    assert.match(message, /^onnxruntime-node not installed: WebAssembly SIMD, \d+ threads?$/);
    const matrix = matrixWithSpectrum(60, 50, [4, 2, 1], 3);
    const stats = await spectralStats(matrix, 60, 50, { backend, k: 3 });
    assert.match(stats.provider, /^WebAssembly SIMD, \d+ threads?$/);
    stats.singularValues.forEach((value, i) => assert.ok(Math.abs(value - [4, 2, 1][i]!) < 4e-5, `s_${i + 1} = ${value}`));
  });

  it("refuses under 'ort' when onnxruntime-node is not installed", async () => {
    await assert.rejects(loadMatrixBackend('ort', { importOrt: missingOrt }), (error) =>
      isSurgeonError(error) && error.rule === 'usage' && /onnxruntime-node is not installed/.test(error.message));
  });

  it('falls back when onnxruntime-node loads but no session starts', async () => {
    const broken: OrtModule = {
      Tensor: class { constructor(readonly type: string, readonly data: Float32Array | Float64Array, readonly dims: readonly number[]) {} },
      InferenceSession: { create: async () => { throw new Error('no provider could run the model'); } },
    };
    const auto = await loadMatrixBackend('auto', { importOrt: async () => broken, gpuPresent: () => false });
    assert.equal(auto.backend.name, 'wasm-simd');
    assert.match(auto.message, /^onnxruntime-node did not start \(no provider could run the model\): WebAssembly SIMD, \d+ threads?$/);
    await assert.rejects(loadMatrixBackend('ort', { importOrt: async () => broken, gpuPresent: () => false }), /did not start/);
  });

  it('uses the CPU execution provider without a GPU and names it', async (t) => {
    const ort = await realOrt();
    if (ort === undefined) return t.skip('onnxruntime-node is not installed here');
    const { backend, message } = await loadMatrixBackend('auto', { importOrt: async () => ort, gpuPresent: () => false });
    assert.equal(backend.name, 'onnxruntime-node');
    assert.equal(message, 'Spectra on onnxruntime-node CPU execution provider');
    await backend.dispose?.();
  });

  it('tries CUDA when a GPU is present and says why it fell back to the CPU', async (t) => {
    const ort = await realOrt();
    if (ort === undefined) return t.skip('onnxruntime-node is not installed here');
    const { backend, message } = await loadMatrixBackend('auto', { importOrt: async () => withoutCudaBinaries(ort), gpuPresent: () => true });
    assert.equal(backend.provider, 'onnxruntime-node CPU execution provider');
    assert.equal(
      message,
      'Spectra on onnxruntime-node CPU execution provider (CUDA execution provider unavailable: ' +
        'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library: either its binaries are not installed ' +
        '(ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node fetches them) or the CUDA 12 and cuDNN 9 libraries are not on the library path)',
    );
    await backend.dispose?.();
  });

  it('keeps ONNX Runtime from printing its own error when the real CUDA provider fails to load', async (t) => {
    const ort = await realOrt();
    if (ort === undefined) return t.skip('onnxruntime-node is not installed here');
    const binaries = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
    if (existsSync(join(binaries, 'libonnxruntime_providers_cuda.so'))) return t.skip('the CUDA provider is installed here');
    // A child process, because ONNX Runtime writes its log from native code, straight to file descriptor 2.
    const loader = join(__dirname, '..', '..', '..', 'src', 'spectra-backends', 'load-matrix-backend.ts');
    const script = `
      const { loadMatrixBackend } = require(${JSON.stringify(loader)});
      loadMatrixBackend('auto', { gpuPresent: () => true }).then(async ({ backend, message }) => {
        process.stdout.write(message);
        await backend.dispose?.();
      });`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /^Spectra on onnxruntime-node CPU execution provider \(CUDA execution provider unavailable: .*Failed to load shared library: either its binaries are not installed/);
    assert.equal(child.stderr, '');
  });

  it('gives the same statistics on onnxruntime-node as on the built-in products', async (t) => {
    const ort = await realOrt();
    if (ort === undefined) return t.skip('onnxruntime-node is not installed here');
    const viaOrt = await loadMatrixBackend('ort', { importOrt: async () => ort, gpuPresent: () => false });
    const viaJs = await loadMatrixBackend('js');
    const spectrum = Array.from({ length: 100 }, (_, i) => 0.85 ** i);
    const matrix = matrixWithSpectrum(240, 160, spectrum, 21);
    // At k = 64 the 74 samples take three blocks, so onnxruntime's f64 products orthonormalise them.
    for (const k of [16, 64]) {
      const fromOrt = await spectralStats(matrix, 240, 160, { backend: viaOrt.backend, k, seed: 5 });
      const fromJs = await spectralStats(matrix, 240, 160, { backend: viaJs.backend, k, seed: 5 });
      assert.equal(fromOrt.provider, 'onnxruntime-node CPU execution provider');
      assert.equal(fromOrt.frobeniusNorm, fromJs.frobeniusNorm);
      // Both are within 1e-5 * s_1 of the truth (randomized-svd.test.ts), so within 2e-5 of each other.
      fromOrt.singularValues.forEach((value, i) => assert.ok(Math.abs(value - fromJs.singularValues[i]!) <= 2e-5, `k ${k}: s_${i + 1}`));
      fromOrt.singularValues.forEach((value, i) => assert.ok(Math.abs(value - spectrum[i]!) <= 1e-5, `k ${k}: s_${i + 1} vs truth`));
      assert.ok(Math.abs(fromOrt.effectiveRank - fromJs.effectiveRank) < 1e-4);
    }
    await viaOrt.backend.dispose?.();
  });
});
