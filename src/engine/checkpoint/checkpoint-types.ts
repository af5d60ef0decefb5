import type { Dtype } from '../format/dtype';
import type { SafetensorsHeader } from '../format/safetensors-header';

/** One safetensors file of a checkpoint, with the size and mtime seen when its header was read. */
export interface CheckpointFile {
  path: string;
  /** The file name inside the checkpoint folder. */
  name: string;
  size: number;
  mtimeMs: number;
  header: SafetensorsHeader;
}

export interface TensorRef {
  name: string;
  dtype: Dtype;
  shape: number[];
  file: CheckpointFile;
  /** Absolute byte offset of the tensor's data in its file. */
  offset: number;
  byteLength: number;
  elementCount: number;
}

/**
 * `single`: a folder with one weights file; `sharded`: an index and its shards;
 * `file`: the user named one .safetensors file (no config or side files are read then).
 */
export type CheckpointLayout = 'single' | 'sharded' | 'file';

export interface Checkpoint {
  /** The folder holding the weights. */
  root: string;
  layout: CheckpointLayout;
  files: CheckpointFile[];
  /** In file order, then offset order. */
  tensors: Map<string, TensorRef>;
  indexPath?: string;
  config?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** Names of the known side files present in the folder (tokenizer files, chat template, ...). */
  sideFiles: string[];
}
