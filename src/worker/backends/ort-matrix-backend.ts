import { checkProductShape, type MatrixBackend } from '../../engine/spectra/matrix-backend';
import { encodeGemmModel, GEMM_INPUT_A, GEMM_INPUT_B, GEMM_OUTPUT } from './onnx-gemm-model';

/**
 * The part of onnxruntime-node this backend uses, declared here so that the project type-checks
 * and runs where the optional dependency is not installed.
 */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor | undefined>>;
  release(): Promise<void>;
}
export interface OrtModule {
  InferenceSession: {
    create(model: Uint8Array, options: { executionProviders: string[]; graphOptimizationLevel?: 'all' }): Promise<OrtSession>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  /** The process-wide settings; absent from test doubles. */
  env?: { logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal' };
}

export type OrtProvider = 'cuda' | 'cpu';

const PROVIDER_NAMES: Record<OrtProvider, string> = { cuda: 'CUDA', cpu: 'CPU' };

/**
 * Products on onnxruntime-node. Both sessions (A @ B and A^T @ B) are created here, so a provider
 * that cannot start fails now, where the loader can fall back, and not in the middle of a pass.
 * With 'cuda' the CPU provider is listed second as ONNX Runtime expects; it would only take nodes
 * CUDA cannot run, and a float32 Gemm is not one of them, so the products run on the GPU.
 */
export async function createOrtMatrixBackend(ort: OrtModule, provider: OrtProvider): Promise<MatrixBackend> {
  const options = {
    executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all' as const,
  };
  const plain = await ort.InferenceSession.create(encodeGemmModel(false), options);
  let transposed: OrtSession;
  try {
    transposed = await ort.InferenceSession.create(encodeGemmModel(true), options);
  } catch (error) {
    await plain.release();
    throw error;
  }
  return {
    name: 'onnxruntime-node',
    provider: `onnxruntime-node ${PROVIDER_NAMES[provider]} execution provider`,
    matmul: async (a, aShape, b, bShape, transposeA = false) => {
      const { m, k, n } = checkProductShape(a, aShape, b, bShape, transposeA);
      // ONNX Runtime refuses some empty tensors; the products are trivial anyway.
      if (m * n === 0 || k === 0) return new Float32Array(m * n);
      const session = transposeA ? transposed : plain;
      const outputs = await session.run({
        [GEMM_INPUT_A]: new ort.Tensor('float32', a, aShape),
        [GEMM_INPUT_B]: new ort.Tensor('float32', b, bShape),
      });
      const data = outputs[GEMM_OUTPUT]?.data;
      if (!(data instanceof Float32Array) || data.length !== m * n) {
        throw new Error(`onnxruntime-node returned no float32 [${m}, ${n}] product`);
      }
      return data;
    },
    dispose: async () => {
      await Promise.all([plain.release(), transposed.release()]);
    },
  };
}
