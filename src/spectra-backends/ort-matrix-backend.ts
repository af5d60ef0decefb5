import { checkProductShape, type Float64Products, type MatrixBackend } from '../engine/spectra/matrix-backend';
import { encodeGemm, encodeGemmModel, GEMM_INPUT_A, GEMM_INPUT_B, GEMM_INPUT_MINUEND, GEMM_OUTPUT } from './onnx-gemm-model';

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
  Tensor: {
    new (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
    new (type: 'float64', data: Float64Array, dims: readonly number[]): OrtTensor;
  };
  /** The process-wide settings; absent from test doubles. */
  env?: { logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal' };
}

export type OrtProvider = 'cuda' | 'cpu';

const PROVIDER_NAMES: Record<OrtProvider, string> = { cuda: 'CUDA', cpu: 'CPU' };

/**
 * Products on onnxruntime-node. All four sessions (A @ B and A^T @ B in f32, and the two f64
 * products of the blocked orthonormalisation) are created here, so a provider that cannot start
 * fails now, where the loader can fall back, and not in the middle of a pass.
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
  const f64 = await createFloat64Products(ort, options).catch(async (error: unknown) => {
    await Promise.all([plain.release(), transposed.release()]);
    throw error;
  });
  return {
    name: 'onnxruntime-node',
    f64: f64.products,
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
      await Promise.all([plain.release(), transposed.release(), f64.release()]);
    },
  };
}

async function createFloat64Products(
  ort: OrtModule,
  options: { executionProviders: string[]; graphOptimizationLevel: 'all' },
): Promise<{ products: Float64Products; release: () => Promise<void> }> {
  const timesTransposed = await ort.InferenceSession.create(encodeGemm({ elementType: 'double', transposeA: false, transposeB: true, subtractFrom: false }), options);
  let minusTransposedTimes: OrtSession;
  try {
    minusTransposedTimes = await ort.InferenceSession.create(encodeGemm({ elementType: 'double', transposeA: true, transposeB: false, subtractFrom: true }), options);
  } catch (error) {
    await timesTransposed.release();
    throw error;
  }
  const result = (outputs: Record<string, OrtTensor | undefined>, length: number): Float64Array => {
    const data = outputs[GEMM_OUTPUT]?.data;
    if (!(data instanceof Float64Array) || data.length !== length) throw new Error(`onnxruntime-node returned no float64 product of ${length} elements`);
    return data;
  };
  return {
    products: {
      timesTransposed: async (a, m, b, n, k) => result(await timesTransposed.run({
        [GEMM_INPUT_A]: new ort.Tensor('float64', a, [m, k]),
        [GEMM_INPUT_B]: new ort.Tensor('float64', b, [n, k]),
      }), m * n),
      minusTransposedTimes: async (y, a, b, k, m, n) => result(await minusTransposedTimes.run({
        [GEMM_INPUT_A]: new ort.Tensor('float64', a, [k, m]),
        [GEMM_INPUT_B]: new ort.Tensor('float64', b, [k, n]),
        [GEMM_INPUT_MINUEND]: new ort.Tensor('float64', y, [m, n]),
      }), m * n),
    },
    release: async () => {
      await Promise.all([timesTransposed.release(), minusTransposedTimes.release()]);
    },
  };
}
