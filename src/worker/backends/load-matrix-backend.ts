import { existsSync } from 'node:fs';
import { SurgeonError } from '../../engine/errors';
import { createJsMatrixBackend } from '../../engine/spectra/js-matrix-backend';
import type { MatrixBackend } from '../../engine/spectra/matrix-backend';
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
 * binaries and a GPU are present, else CPU) and falls back to plain JavaScript when the optional
 * dependency is missing or does not start; 'ort' refuses instead of falling back; 'js' never
 * loads onnxruntime-node.
 */
export async function loadMatrixBackend(
  preference: MatrixBackendPreference,
  hooks: MatrixBackendLoaderHooks = {},
): Promise<LoadedMatrixBackend> {
  if (preference === 'js') {
    return { backend: createJsMatrixBackend(), message: 'Spectra on plain JavaScript (onnxruntime-node not requested)' };
  }
  let ort: OrtModule;
  try {
    ort = await (hooks.importOrt ?? importOnnxRuntime)();
  } catch (error) {
    if (preference === 'ort') {
      throw new SurgeonError('usage', `onnxruntime-node is not installed or cannot load: ${describe(error)}`);
    }
    return { backend: createJsMatrixBackend(), message: 'onnxruntime-node not installed: plain JavaScript' };
  }
  let cudaFailure: string | undefined;
  if ((hooks.gpuPresent ?? nvidiaGpuPresent)()) {
    try {
      const backend = await createOrtMatrixBackend(ort, 'cuda');
      return { backend, message: `Spectra on ${backend.provider}` };
    } catch (error) {
      cudaFailure = describe(error);
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
    return { backend: createJsMatrixBackend(), message: `onnxruntime-node did not start (${describe(error)}): plain JavaScript` };
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
