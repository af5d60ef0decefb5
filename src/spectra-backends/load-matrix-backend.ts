import { existsSync } from 'node:fs';
import { SurgeonError } from '../engine/errors';
import { createBuiltInMatrixBackend } from '../engine/spectra/built-in-matrix-backend';
import type { MatrixBackend } from '../engine/spectra/matrix-backend';
import { createOrtMatrixBackend, type OrtModule } from './ort-matrix-backend';

export type MatrixBackendPreference = 'auto' | 'ort' | 'js';

export interface LoadedMatrixBackend {
  backend: MatrixBackend;
  /** What runs the spectral pass, for the log and the report: "Spectra on ...". */
  message: string;
}

export interface MatrixBackendLoaderHooks {
  /** Loads onnxruntime-node; replaced in tests to simulate a machine without it. */
  importOrt?: () => Promise<OrtModule>;
  /** Whether an NVIDIA GPU is visible; replaced in tests. */
  gpuPresent?: () => boolean;
}

/**
 * The module name lives in a variable so that bundlers and the type checker leave the optional
 * dependency alone: it is resolved at run time, from the installed node_modules, or not at all.
 */
const ORT_MODULE_NAME = 'onnxruntime-node';

async function importOnnxRuntime(): Promise<OrtModule> {
  const loaded = (await import(ORT_MODULE_NAME)) as Partial<OrtModule> & { default?: OrtModule };
  return loaded.InferenceSession !== undefined ? (loaded as OrtModule) : loaded.default!;
}

/**
 * ONNX Runtime prints a failed CUDA probe to stderr itself, in red, as an error, although the
 * loader falls back and its message says why (seen on an H100 without the provider binaries).
 * Failures that matter reach us as exceptions, so its own log is limited to fatal errors; the
 * level only takes effect before the first session is created.
 */
function quietOnnxRuntimeLog(ort: OrtModule): void {
  if (ort.env !== undefined) ort.env.logLevel = 'fatal';
}

/**
 * What a user can do about a CUDA provider that did not load. ONNX Runtime says only "Failed to
 * load shared library" both when the provider's binaries were not installed (onnxruntime-node
 * fetches them at install time, which offline installs skip) and when CUDA 12 or cuDNN 9 are
 * missing from the library path.
 */
function explainCudaFailure(error: unknown): string {
  const message = describe(error);
  if (!/failed to load shared library/i.test(message)) return message;
  return (
    `${message}: either its binaries are not installed (ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node ` +
    'fetches them) or the CUDA 12 and cuDNN 9 libraries are not on the library path'
  );
}

/**
 * ONNX Runtime publishes its CUDA provider for Linux and Windows x64 only. On Linux the driver's
 * device files show a GPU without loading anything; on Windows the provider is simply tried.
 */
function nvidiaGpuPresent(): boolean {
  if (process.arch !== 'x64') return false;
  if (process.platform === 'linux') return existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia/version');
  return process.platform === 'win32';
}

/**
 * The backend of the spectral pass. 'auto' prefers onnxruntime-node (CUDA when its provider
 * binaries and a GPU are present, else CPU) and falls back to the built-in products (WebAssembly
 * SIMD, else plain JavaScript) when the optional dependency is missing or does not start; 'ort'
 * refuses instead of falling back; 'js' never loads onnxruntime-node.
 */
export async function loadMatrixBackend(
  preference: MatrixBackendPreference,
  hooks: MatrixBackendLoaderHooks = {},
): Promise<LoadedMatrixBackend> {
  if (preference === 'js') {
    const backend = createBuiltInMatrixBackend();
    return { backend, message: `Spectra on ${backend.provider} (onnxruntime-node not requested)` };
  }
  let ort: OrtModule;
  try {
    ort = await (hooks.importOrt ?? importOnnxRuntime)();
  } catch (error) {
    if (preference === 'ort') {
      throw new SurgeonError('usage', `onnxruntime-node is not installed or cannot load: ${describe(error)}`);
    }
    const backend = createBuiltInMatrixBackend();
    return { backend, message: `onnxruntime-node not installed: ${backend.provider}` };
  }
  quietOnnxRuntimeLog(ort);
  let cudaFailure: string | undefined;
  if ((hooks.gpuPresent ?? nvidiaGpuPresent)()) {
    try {
      const backend = await createOrtMatrixBackend(ort, 'cuda');
      return { backend, message: `Spectra on ${backend.provider}` };
    } catch (error) {
      cudaFailure = explainCudaFailure(error);
    }
  }
  const cudaNote = cudaFailure === undefined ? '' : ` (CUDA execution provider unavailable: ${cudaFailure})`;
  try {
    const backend = await createOrtMatrixBackend(ort, 'cpu');
    return { backend, message: `Spectra on ${backend.provider}${cudaNote}` };
  } catch (error) {
    if (preference === 'ort') {
      throw new SurgeonError('usage', `onnxruntime-node did not start: ${describe(error)}`);
    }
    const backend = createBuiltInMatrixBackend();
    return { backend, message: `onnxruntime-node did not start (${describe(error)}): ${backend.provider}` };
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
