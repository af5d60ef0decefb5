/**
 * The extension's settings, read through typed getters (declared in package.json under
 * `contributes.configuration`, where each has its enum, minimum, default and description).
 */
import * as vscode from 'vscode';
import { DEFAULT_MAX_SHARD_BYTES, DEFAULT_SPECTRA_PASS_RANK } from '../shared/defaults';
import { MAX_KERNEL_THREADS } from '../shared/environment';
import { DEFAULT_RESIDUAL_DTYPE, RESIDUAL_DTYPES, type ResidualDtype } from '../shared/jobs';

const CONFIG_SECTION = 'checkpointSurgeon';

export type ComputeBackend = 'auto' | 'wasm' | 'js';

const COMPUTE_BACKENDS: readonly ComputeBackend[] = ['auto', 'wasm', 'js'];

export class SurgeonConfig {
  private get section(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(CONFIG_SECTION);
  }

  get residualDtype(): ResidualDtype {
    return oneOf(this.section.get<string>('residualDtype'), RESIDUAL_DTYPES, DEFAULT_RESIDUAL_DTYPE);
  }

  /** Bytes per output shard. */
  get shardSize(): number {
    const value = this.section.get<number>('shardSize');
    return typeof value === 'number' && Number.isFinite(value) && value >= 1 ? Math.floor(value) : DEFAULT_MAX_SHARD_BYTES;
  }

  get defaultScale(): number {
    const value = this.section.get<number>('defaultScale');
    return typeof value === 'number' && Number.isFinite(value) ? value : 1;
  }

  get include(): string | undefined {
    return nonEmpty(this.section.get<string>('include'));
  }

  get exclude(): string | undefined {
    return nonEmpty(this.section.get<string>('exclude'));
  }

  /**
   * Threads that share the worker's kernels, up to the engine's MAX_KERNEL_THREADS (package.json declares
   * the same maximum); 0 lets the engine choose from the number of cores.
   */
  get workerThreads(): number {
    const value = this.section.get<number>('workerThreads');
    return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? Math.min(value, MAX_KERNEL_THREADS) : 0;
  }

  get computeBackend(): ComputeBackend {
    return oneOf(this.section.get<string>('computeBackend'), COMPUTE_BACKENDS, 'auto');
  }

  /** Compare also runs the spectral pass (a second read of every 2-D float delta). */
  get diffSpectra(): boolean {
    return this.section.get<boolean>('diff.spectra') === true;
  }

  /** Singular values per matrix in the spectral pass; the job refuses values out of range, naming the setting's value. */
  get diffSpectraRank(): number {
    const value = this.section.get<number>('diff.spectraRank');
    return typeof value === 'number' ? value : DEFAULT_SPECTRA_PASS_RANK;
  }

  /** True when a change event touches a setting the worker was started with. */
  static affectsWorker(event: vscode.ConfigurationChangeEvent): boolean {
    return event.affectsConfiguration(`${CONFIG_SECTION}.workerThreads`) || event.affectsConfiguration(`${CONFIG_SECTION}.computeBackend`);
  }
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T): T {
  return allowed.includes(value as T) ? (value as T) : fallback;
}

function nonEmpty(value: string | undefined): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
